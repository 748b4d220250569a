//! Why a config was refused; every message names the file and the item at fault.

use std::path::PathBuf;

/// A config that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML for the config schema (syntax, unknown key, wrong type).
    #[error("{}{message}", file_prefix(file))]
    Parse {
        /// The config file, when known.
        file: Option<PathBuf>,
        /// The parser's message, with line, column and key.
        message: String,
    },
    /// The config parsed but is inconsistent; one line per problem.
    #[error("{}invalid config:\n  - {}", file_prefix(file), problems.join("\n  - "))]
    Invalid {
        /// The config file, when known.
        file: Option<PathBuf>,
        /// Each problem, naming the item (`route 2 (/api/*)`, `plugin auth`).
        problems: Vec<String>,
    },
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

impl ConfigError {
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Self::Parse { message, .. } => Self::Parse {
                file: Some(path.to_owned()),
                message,
            },
            Self::Invalid { problems, .. } => Self::Invalid {
                file: Some(path.to_owned()),
                problems,
            },
            other => other,
        }
    }
}
