//! Why an import could not run to the end.

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file itself cannot be imported (encoding, header); retrying will not help.
    #[error("{0}")]
    BadFile(String),
    /// Postgres failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Reading the upload or writing the error file failed.
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    /// The import panicked (a bug, or a file that trips one in a dependency): running it
    /// again would panic again.
    #[error("the import stopped on an internal error ({0}); the file was not imported further")]
    Panicked(String),
}

impl ImportError {
    /// A panic's payload as text, for [`ImportError::Panicked`].
    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        Self::Panicked(message)
    }
}

impl From<tokio::task::JoinError> for ImportError {
    fn from(error: tokio::task::JoinError) -> Self {
        match error.try_into_panic() {
            Ok(payload) => Self::from_panic(payload.as_ref()),
            Err(error) => Self::Io(std::io::Error::other(error)),
        }
    }
}

impl ImportError {
    /// True when running the import again later may succeed.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::BadFile(_) | Self::Panicked(_) => false,
            Self::Database(e) => crate::db::is_transient_error(e),
            Self::Io(_) => true,
        }
    }
}
