"""S3 errors: each class carries the S3 error code and HTTP status it maps to.

Handlers raise these; the application turns them into the XML error document
S3 clients expect (``<Error><Code>..</Code><Message>..</Message>..</Error>``).
"""

from __future__ import annotations


class S3Error(Exception):
    """An error answered to the client in S3's XML error format.

    ``headers`` are response headers S3 sends along (e.g. ``x-amz-delete-marker``).
    """

    code = "InternalError"
    status = 500
    default_message = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **details: str) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details = details
        self.headers: dict[str, str] = {}


def _error(code: str, status: int, message: str) -> type[S3Error]:
    return type(code, (S3Error,), {"code": code, "status": status, "default_message": message})


AccessDenied = _error("AccessDenied", 403, "Access Denied")
AuthorizationHeaderMalformed = _error(
    "AuthorizationHeaderMalformed", 400, "The authorization header is malformed."
)
AuthorizationQueryParametersError = _error(
    "AuthorizationQueryParametersError", 400, "Error parsing the X-Amz-Credential parameter."
)
BadRequest = _error("BadRequest", 400, "Bad Request")
BadDigest = _error(
    "BadDigest", 400, "The Content-MD5 you specified did not match what we received."
)
BucketAlreadyExists = _error(
    "BucketAlreadyExists", 409, "The requested bucket name is not available."
)
BucketAlreadyOwnedByYou = _error(
    "BucketAlreadyOwnedByYou",
    409,
    "Your previous request to create the named bucket succeeded and you already own it.",
)
BucketNotEmpty = _error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty.")
EntityTooLarge = _error(
    "EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size."
)
EntityTooSmall = _error(
    "EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size."
)
ExpiredToken = _error("ExpiredToken", 400, "The provided token has expired.")
IncompleteBody = _error(
    "IncompleteBody", 400, "You did not provide the number of bytes specified by the header."
)
InternalError = _error("InternalError", 500, "We encountered an internal error. Please try again.")
InvalidAccessKeyId = _error(
    "InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records."
)
IllegalVersioningConfiguration = _error(
    "IllegalVersioningConfigurationException",
    400,
    "The versioning configuration specified in the request is invalid.",
)
InvalidArgument = _error("InvalidArgument", 400, "Invalid Argument")
InvalidBucketName = _error("InvalidBucketName", 400, "The specified bucket is not valid.")
InvalidDigest = _error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
InvalidPart = _error(
    "InvalidPart",
    400,
    "One or more of the specified parts could not be found or its entity tag did not match.",
)
InvalidPartOrder = _error("InvalidPartOrder", 400, "The list of parts was not in ascending order.")
InvalidPartNumber = _error("InvalidPartNumber", 416, "The requested partnumber is not satisfiable")
InvalidTag = _error("InvalidTag", 400, "The tag provided was not a valid tag.")
InvalidRange = _error("InvalidRange", 416, "The requested range is not satisfiable")
InvalidRequest = _error("InvalidRequest", 400, "Invalid Request")
KeyTooLongError = _error("KeyTooLongError", 400, "Your key is too long.")
MalformedXML = _error(
    "MalformedXML",
    400,
    "The XML you provided was not well-formed or did not validate against our published schema.",
)
MethodNotAllowed = _error(
    "MethodNotAllowed", 405, "The specified method is not allowed against this resource."
)
MissingContentLength = _error(
    "MissingContentLength", 411, "You must provide the Content-Length HTTP header."
)
MissingSecurityHeader = _error(
    "MissingSecurityHeader", 400, "Your request is missing a required header."
)
NoSuchBucket = _error("NoSuchBucket", 404, "The specified bucket does not exist.")
NoSuchKey = _error("NoSuchKey", 404, "The specified key does not exist.")
NoSuchVersion = _error(
    "NoSuchVersion",
    404,
    "The specified version does not exist.",
)
NoSuchUpload = _error(
    "NoSuchUpload",
    404,
    "The specified multipart upload does not exist. The upload ID might be invalid, "
    "or the multipart upload might have been aborted or completed.",
)
NotImplemented_ = type(
    "NotImplemented",
    (S3Error,),
    {
        "code": "NotImplemented",
        "status": 501,
        "default_message": "A header you provided implies functionality that is not implemented.",
    },
)
NotModified = _error("NotModified", 304, "Not Modified")
PreconditionFailed = _error(
    "PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold."
)
RequestTimeTooSkewed = _error(
    "RequestTimeTooSkewed",
    403,
    "The difference between the request time and the current time is too large.",
)
ServiceUnavailable = _error("ServiceUnavailable", 503, "Please reduce your request rate.")
SlowDown = _error("SlowDown", 503, "Please reduce your request rate.")
SignatureDoesNotMatch = _error(
    "SignatureDoesNotMatch",
    403,
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.",
)
XAmzContentSHA256Mismatch = _error(
    "XAmzContentSHA256Mismatch",
    400,
    "The provided 'x-amz-content-sha256' header does not match what was computed.",
)
InvalidChunkSizeError = _error(
    "InvalidChunkSizeError",
    400,
    "Only the last chunk is allowed to have a size less than 8192 bytes",
)
AccessForbidden = _error("AccessForbidden", 403, "CORSResponse: This CORS request is not allowed.")
BadRequest = _error("BadRequest", 400, "Bad Request")
NoSuchCORSConfiguration = _error(
    "NoSuchCORSConfiguration", 404, "The CORS configuration does not exist"
)
InvalidPolicyDocument = _error("InvalidPolicyDocument", 400, "Invalid Policy: Invalid JSON.")
MalformedPOSTRequest = _error(
    "MalformedPOSTRequest",
    400,
    "The body of your POST request is not well-formed multipart/form-data.",
)
IncorrectNumberOfFilesInPostRequest = _error(
    "IncorrectNumberOfFilesInPostRequest", 400, "POST requires exactly one file upload per request."
)
