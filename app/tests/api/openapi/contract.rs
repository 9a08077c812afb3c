//! Checks an answer of the app against the document it serves: the
//! status is documented for the operation, the content type is one it
//! lists, the required headers are there and match their schemas, and the
//! body matches its schema (JSON Schema 2020-12, as OpenAPI 3.1 uses).

use std::collections::BTreeSet;
use std::sync::Mutex;

use jsonschema::Draft;
use serde_json::{Value, json};

use crate::api::harness::{Reply, TestApp};

/// The document and the answers checked against it so far.
pub struct Contract {
    document: Value,
    seen: Mutex<BTreeSet<(String, String, String)>>,
}

impl Contract {
    /// The document `app` serves (its own answer checked too).
    pub async fn of(app: &TestApp) -> Self {
        let reply = app.get("/openapi.json", None).await;
        let contract = Self {
            document: reply.json(),
            seen: Mutex::default(),
        };
        contract.check("get", "/openapi.json", &reply);
        contract
    }

    /// `value` itself, or what its `$ref` points at.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(target) => self
                .document
                .pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{target} resolves to nothing")),
            None => value,
        }
    }

    /// Validates `instance` against the schema at `pointer` in the
    /// document (so its `$ref`s resolve), panicking with every error.
    fn validate(&self, pointer: &str, instance: &Value, what: &str) {
        let mut root = self.document.clone();
        // A URI fragment: the braces of path templates are percent-encoded.
        let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
        root["$ref"] = json!(format!("#{fragment}"));
        validate(&root, instance, what);
    }

    /// Checks `reply` to `method` on `template` against the document.
    #[track_caller]
    pub fn check(&self, method: &str, template: &str, reply: &Reply) {
        let status = reply.status.as_u16().to_string();
        let what = format!("{} {template} → {status}", method.to_uppercase());
        let operation = &self.document["paths"][template][method];
        assert!(
            operation.is_object(),
            "{what}: no such operation in the document"
        );
        let documented = &operation["responses"][&status];
        assert!(
            documented.is_object(),
            "{what}: status not documented; body {:?}",
            reply.body
        );
        let response = self.resolve(documented);
        let headers = response["headers"].as_object().cloned().unwrap_or_default();
        for (name, header) in &headers {
            let header = self.resolve(header);
            let value = reply
                .headers
                .get(name.as_str())
                .map(|v| v.to_str().unwrap());
            match value {
                None => assert!(header["required"] != true, "{what}: no {name} header"),
                Some(value) => {
                    let value = match header["schema"]["type"].as_str() {
                        Some("integer") => json!(value.parse::<i64>().unwrap_or(-1)),
                        _ => json!(value),
                    };
                    validate(&header["schema"], &value, &format!("{what}: {name}"));
                }
            }
        }
        let content_type = reply
            .header("content-type")
            .split(';')
            .next()
            .unwrap()
            .trim();
        match response["content"].as_object() {
            None => assert!(
                reply.body.is_empty(),
                "{what}: a body where none is documented"
            ),
            Some(content) => {
                assert!(
                    content.contains_key(content_type),
                    "{what}: content type {content_type:?} not documented"
                );
                if content_type.ends_with("json") {
                    let pointer =
                        self.schema_pointer(template, method, &status, documented, content_type);
                    self.validate(&pointer, &reply.json(), &what);
                }
            }
        }
        self.seen
            .lock()
            .unwrap()
            .insert((method.into(), template.into(), status));
    }

    /// The JSON pointer of a response's body schema.
    fn schema_pointer(
        &self,
        template: &str,
        method: &str,
        status: &str,
        documented: &Value,
        media: &str,
    ) -> String {
        let escape = |s: &str| s.replace('~', "~0").replace('/', "~1");
        let response = match documented.get("$ref").and_then(Value::as_str) {
            Some(target) => target.trim_start_matches('#').to_owned(),
            None => format!("/paths/{}/{method}/responses/{status}", escape(template)),
        };
        format!("{response}/content/{}/schema", escape(media))
    }

    /// Every operation of the document answered at least one of its
    /// success statuses during the walk.
    pub fn assert_every_operation_succeeded(&self) {
        let seen = self.seen.lock().unwrap();
        for (template, item) in self.document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                let succeeded = responses
                    .keys()
                    .filter(|s| s.starts_with('2'))
                    .any(|status| {
                        seen.contains(&(method.clone(), template.clone(), status.clone()))
                    });
                assert!(succeeded, "{method} {template} never succeeded in the walk");
            }
        }
    }
}

/// Validates `instance` against `schema`, panicking with every error.
fn validate(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} breaks its schema: {errors:?}\n{instance}"
    );
}
