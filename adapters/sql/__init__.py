"""SQL metadata: SQLAlchemy models, engine set-up and the metadata repository."""
