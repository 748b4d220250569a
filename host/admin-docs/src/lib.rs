//! The gateway's APIs described: the OpenAPI 3.1 document of the admin API (and of the
//! trading-control API, when the gateway serves it), generated from the types of their
//! requests and answers, and Swagger UI to read and try them, with its assets built in
//! (nothing is fetched at build or run time).

mod document;
pub mod schemas;
mod swagger;
pub mod trading;

pub use document::{Mounts, document};
pub use swagger::{SwaggerFile, file as swagger_file};

/// The document as JSON, for the APIs at `mounts`.
pub fn openapi_json(mounts: &Mounts) -> String {
    document(mounts)
        .to_pretty_json()
        .expect("an OpenAPI document serialises to JSON")
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const MOUNTS: Mounts = Mounts {
        admin: "/admin",
        trading: Some("/api"),
        health: "/health",
        metrics: "/metrics",
    };

    #[test]
    fn the_trading_api_has_its_tag_and_error_format() {
        let document: Value = serde_json::from_str(&openapi_json(&MOUNTS)).expect("JSON");
        let create = &document["paths"]["/api/portfolio"]["post"];
        assert_eq!(create["tags"], serde_json::json!(["trading"]));
        assert_eq!(
            create["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/TradingError"
        );
        assert_eq!(
            create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/TradingPortfolioCommand"
        );
        let without = Mounts {
            trading: None,
            ..MOUNTS
        };
        let document: Value = serde_json::from_str(&openapi_json(&without)).expect("JSON");
        assert!(document["paths"].get("/api/portfolio").is_none());
    }

    #[test]
    fn the_document_is_openapi_3_1_with_every_endpoint_secured_and_its_schemas() {
        let document: Value = serde_json::from_str(&openapi_json(&MOUNTS)).expect("JSON");
        assert_eq!(document["openapi"], "3.1.0");
        let paths = document["paths"].as_object().expect("paths");
        let create = &paths["/admin/routes"]["post"];
        assert_eq!(create["security"][0]["bearer"], Value::Array(vec![]));
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CreateRoute"
        );
        let method = &document["components"]["schemas"]["CreateRoute"]["properties"]["method"];
        assert!(method.to_string().contains("Method"), "{method}");
        let methods = &document["components"]["schemas"]["Method"]["enum"];
        assert_eq!(
            methods,
            &serde_json::json!(["GET", "POST", "PUT", "DELETE", "PATCH", "ANY"])
        );
        assert!(paths["/health"]["get"].get("security").is_none());
        let upload = &paths["/admin/plugins/{name}"]["put"]["requestBody"]["content"];
        assert!(upload.get("application/wasm").is_some(), "{upload}");
    }

    #[test]
    fn every_reference_names_a_schema_of_the_document() {
        let text = openapi_json(&MOUNTS);
        let document: Value = serde_json::from_str(&text).expect("JSON");
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        let prefix = "\"#/components/schemas/";
        for reference in text.split(prefix).skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "no schema {name}");
        }
    }

    #[test]
    fn swagger_ui_serves_its_page_and_an_initializer_pointing_at_the_document() {
        let page = swagger_file("", "/admin/openapi.json").expect("the page");
        assert!(page.content_type.starts_with("text/html"));
        let init = swagger_file("swagger-initializer.js", "/docs/openapi.json").expect("init");
        let text = String::from_utf8(init.bytes).expect("text");
        assert!(text.contains("/docs/openapi.json"), "{text}");
        let compact = text.replace(' ', "");
        assert!(compact.contains("\"validatorUrl\":\"none\""), "{text}");
        assert!(swagger_file("no-such-file.js", "/x").is_none());
    }
}
