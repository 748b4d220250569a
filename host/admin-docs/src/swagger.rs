//! Swagger UI, its assets built into the binary: the page asks only its own origin, for
//! its files and the document (the validator badge, which would call
//! validator.swagger.io, is off), and keeps the token a user authorizes with across
//! reloads so that "Try it out" sends it.

use std::sync::Arc;

use utoipa_swagger_ui::Config;

/// One Swagger UI file.
#[derive(Debug)]
pub struct SwaggerFile {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub content_type: String,
}

/// The file at `tail` (the path after Swagger UI's own, without the leading `/`; empty
/// for the page) of the UI that renders the document at `openapi_path`.
pub fn file(tail: &str, openapi_path: &str) -> Option<SwaggerFile> {
    let config = Config::from(openapi_path.to_owned())
        .validator_url("none")
        .persist_authorization(true)
        .display_request_duration(true);
    // It fails only to render the initializer from this fixed config, which always renders.
    let file = utoipa_swagger_ui::serve(tail, Arc::new(config))
        .ok()
        .flatten()?;
    Some(SwaggerFile {
        bytes: file.bytes.into_owned(),
        content_type: file.content_type,
    })
}
