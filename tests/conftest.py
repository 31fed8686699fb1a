pytest_plugins = [
    "tests.support.moto_server",
    "tests.support.postgres",
    "tests.support.gateway_server",
    "tests.support.core",
    "tests.support.clamd",
]
