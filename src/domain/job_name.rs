//! The name an uploader may give a job, to find it again in the job list.

/// A job name: trimmed, 1 to [`JobName::MAX_CHARS`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobName(String);

/// Why a name was refused; the message is meant for the uploader.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum JobNameError {
    /// Longer than the limit once trimmed.
    #[error("name must be at most {max} characters, not {chars}", max = JobName::MAX_CHARS)]
    TooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// Contains a control character (a line break, a tab, a NUL …).
    #[error("name must not contain control characters (line breaks, tabs …)")]
    ControlCharacter,
}

impl JobName {
    /// The longest name, in characters (Unicode scalar values).
    pub(crate) const MAX_CHARS: usize = 200;

    /// Trims `raw`; nothing but whitespace means no name.
    pub(crate) fn parse(raw: &str) -> Result<Option<Self>, JobNameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Ok(None);
        }
        if name.chars().any(char::is_control) {
            return Err(JobNameError::ControlCharacter);
        }
        let chars = name.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(JobNameError::TooLong { chars });
        }
        Ok(Some(Self(name.to_owned())))
    }

    /// The name.
    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_blank_means_none() {
        assert_eq!(
            JobName::parse("  Q3 pipeline ")
                .unwrap()
                .unwrap()
                .into_inner(),
            "Q3 pipeline"
        );
        assert_eq!(JobName::parse(" \t ").unwrap(), None);
    }

    #[test]
    fn names_are_at_most_200_characters_without_control_characters() {
        assert!(JobName::parse(&"é".repeat(200)).unwrap().is_some());
        assert_eq!(
            JobName::parse(&"é".repeat(201)),
            Err(JobNameError::TooLong { chars: 201 })
        );
        assert_eq!(JobName::parse("a\nb"), Err(JobNameError::ControlCharacter));
        assert_eq!(
            JobName::parse("a\u{7f}b"),
            Err(JobNameError::ControlCharacter)
        );
    }
}
