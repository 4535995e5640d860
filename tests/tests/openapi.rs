//! The OpenAPI document against the router it describes: every route the
//! router serves is in the document, every constraint the document declares
//! is enforced, a value at a declared bound is accepted, and every refusal
//! answers a status the document declares for its route.

use std::collections::BTreeSet;

use chrono::Duration;
use regex::Regex;
use serde_json::{json, Value};
use tidings::domain::Channel;
use tidings_e2e::{spawn_app, t0, TestApp};

/// Codes that refuse a value: a value at a declared bound must not get one.
const REFUSALS: [&str; 7] = [
    "invalid_field",
    "invalid_settings",
    "invalid_amount",
    "invalid_id",
    "invalid_query",
    "invalid_cursor",
    "template_too_large",
];

/// A body of each route that takes one, accepted as it is.
fn valid_body(method: &str, path: &str) -> Option<Value> {
    let body = match (method, path) {
        ("put", "/v1/settings") => json!({
            "practice_name": "Riverside Clinic", "practice_phone": "+12025550143",
            "time_zone": "America/New_York", "messaging_enabled": true,
            "appointment_reminders": {"enabled": true, "offsets_minutes": [1440], "by_type": {"new_patient": [2880]}},
            "appointment_notices": {"enabled": true, "debounce_minutes": 3},
            "invoice_messages": {"billing_reminders": true, "days_before": 3, "late_payment_notices": true,
                "days_after": 1, "repeat_every_days": 7, "max_notices": 3, "send_at": "10:00"},
            "quiet_hours": {"allowed_from": "08:00", "allowed_until": "21:00"},
            "caps": {"per_day": 1, "per_week": 3},
            "credit": {"low_balance_alert_cents": 500, "auto_top_up": {"trigger_cents": 500, "amount_cents": 1000}},
            "senders": {"sms_sender_id": "Riverside"},
            "replies": {"confirm_by_reply": true, "cancel_by_reply": true, "cancel_cutoff_hours": 48},
        }),
        ("put", "/v1/recipients/{id}") => {
            json!({"kind": "client", "first_name": "Ann", "last_name": "Lee", "channel": "email", "email": "ann@example.com"})
        }
        ("put", "/v1/appointments/{id}") => json!({
            "recipient_id": "r1", "starts_at": (t0() + Duration::days(2)).to_rfc3339(), "duration_minutes": 30,
            "provider": "Dr. Ruiz", "location": "12 Main St", "status": "booked", "appointment_type": "checkup",
        }),
        ("put", "/v1/invoices/{id}") => json!({
            "recipient_id": "r1", "amount_cents": 12000, "currency": "USD", "due_date": "2026-12-20",
            "status": "open", "pay_url": "https://pay.example/i1",
        }),
        ("put", "/v1/templates/{kind}/{channel}") | ("post", "/v1/templates/{kind}/{channel}/preview") => {
            json!({"subject": "Your visit", "body": "Hello {{ first_name }}"})
        }
        ("post", "/v1/credit/purchases") => json!({"amount_cents": 1000, "idempotency_key": "k1"}),
        ("put", "/v1/recipients/{id}/contacts/{contact_id}") => {
            json!({"relationship": "guardian", "copy_on": ["appointment_reminder"]})
        }
        ("post", "/v1/forms") => {
            json!({"recipient_id": "r1", "title": "Intake", "form_url": "https://forms.riverside.example/intake"})
        }
        ("post", "/v1/messages") => json!({"recipient_id": "r1", "body": "Please call us.", "idempotency_key": "k1"}),
        ("put", "/v1/users/{id}") => json!({
            "email": "frontdesk@riverside.example", "display_name": "Front desk", "time_zone": "America/Los_Angeles",
            "notifications": {"frequency": "daily", "daily_at": "08:00", "kinds": ["new_reply"]},
        }),
        ("put", "/v1/recipients/{id}/consent") => json!({
            "channel": "email", "state": "granted", "method": "staff_recorded",
            "captured_at": t0().to_rfc3339(), "evidence": "Agreed at the front desk.",
        }),
        _ => return None,
    };
    Some(body)
}

/// What a route needs in its query to be answered at all.
fn base_query(path: &str) -> &'static str {
    match path {
        "/v1/messages" => "status=scheduled",
        _ => "",
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        return resolve(doc, &doc["components"]["schemas"][name]);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[key].as_array().and_then(|v| v.iter().find(|s| s["type"] != "null")) {
            return resolve(doc, first);
        }
    }
    schema
}

fn has_type(schema: &Value, wanted: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == wanted,
        Value::Array(types) => types.iter().any(|t| t == wanted),
        _ => false,
    }
}

fn pattern(schema: &Value) -> Option<Regex> {
    schema["pattern"].as_str().map(|p| Regex::new(p).expect("the document's patterns compile"))
}

/// The longest value the schema allows, if repeating a plain character
/// makes one.
fn string_at_max(schema: &Value) -> Option<String> {
    let max = schema["maxLength"].as_u64()? as usize;
    let pattern = pattern(schema);
    ['x', 'A', '1'].iter().map(|c| c.to_string().repeat(max)).find(|s| pattern.as_ref().is_none_or(|p| p.is_match(s)))
}

/// Values that break each of the schema's declared string constraints.
fn string_violations(schema: &Value) -> Vec<(String, String)> {
    let mut cases = Vec::new();
    if let Some(max) = schema["maxLength"].as_u64() {
        cases.push((format!("longer than {max}"), "x".repeat(max as usize + 1)));
    }
    if schema["minLength"].as_u64().is_some_and(|min| min > 0) {
        cases.push(("empty".to_owned(), String::new()));
    }
    if let Some(pattern) = pattern(schema) {
        let off = [" ", "\u{1}"].into_iter().find(|s| !pattern.is_match(s)).expect("an off-pattern value");
        cases.push((format!("off pattern {pattern}"), off.to_owned()));
    }
    cases
}

fn number_violations(schema: &Value) -> Vec<(String, Value)> {
    let mut cases = Vec::new();
    if let Some(min) = schema["minimum"].as_i64() {
        cases.push((format!("below {min}"), json!(min - 1)));
    }
    if let Some(max) = schema["maximum"].as_i64() {
        cases.push((format!("above {max}"), json!(max + 1)));
    }
    cases
}

fn number_bounds(schema: &Value) -> Vec<Value> {
    ["minimum", "maximum"].iter().filter_map(|b| schema[*b].as_i64()).map(|n| json!(n)).collect()
}

enum Expect {
    Refused(u16),
    Accepted,
}

/// A request body with one value changed (or removed).
fn with_value(body: &Value, path: &[String], value: Option<Value>) -> Value {
    let mut body = body.clone();
    let mut target = &mut body;
    for key in &path[..path.len() - 1] {
        target = &mut target[key.as_str()];
    }
    let object = target.as_object_mut().expect("an object");
    let last = &path[path.len() - 1];
    match value {
        Some(value) => object.insert(last.clone(), value),
        None => object.remove(last),
    };
    body
}

/// Cases for every constraint the body's schema declares, recursively
/// through the objects the valid body holds.
fn body_cases(doc: &Value, schema: &Value, body: &Value, at: &[String], cases: &mut Vec<(String, Value, Expect)>) {
    let schema = resolve(doc, schema);
    let required: BTreeSet<&str> =
        schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    let current = at.iter().fold(body, |v, k| &v[k.as_str()]);
    for (name, property) in properties {
        let path: Vec<String> = at.iter().cloned().chain([name.clone()]).collect();
        let field = path.join(".");
        let property = resolve(doc, property);
        let present = current.get(name);
        if required.contains(name.as_str()) && present.is_some() {
            cases.push((format!("{field} missing"), with_value(body, &path, None), Expect::Refused(422)));
        }
        if has_type(property, "string") {
            for (what, value) in string_violations(property) {
                cases.push((
                    format!("{field} {what}"),
                    with_value(body, &path, Some(json!(value))),
                    Expect::Refused(422),
                ));
            }
            if let Some(value) = string_at_max(property) {
                cases.push((
                    format!("{field} at its longest"),
                    with_value(body, &path, Some(json!(value))),
                    Expect::Accepted,
                ));
            }
        }
        if has_type(property, "integer") || has_type(property, "number") {
            for (what, value) in number_violations(property) {
                cases.push((format!("{field} {what}"), with_value(body, &path, Some(value)), Expect::Refused(422)));
            }
            for value in number_bounds(property) {
                cases.push((format!("{field} = {value}"), with_value(body, &path, Some(value)), Expect::Accepted));
            }
        }
        if has_type(property, "array") {
            let items = resolve(doc, &property["items"]);
            if let Some(max) = property["maxItems"].as_u64() {
                // Distinct, in range where the items are numbers.
                let least = items["minimum"].as_i64().unwrap_or(0);
                let too_many: Vec<i64> = (least..).take(max as usize + 1).collect();
                cases.push((
                    format!("{field} over {max} items"),
                    with_value(body, &path, Some(json!(too_many))),
                    Expect::Refused(422),
                ));
            }
            if property["minItems"].as_u64().is_some_and(|min| min > 0) {
                cases.push((format!("{field} empty"), with_value(body, &path, Some(json!([]))), Expect::Refused(422)));
            }
            if let (true, Some(item)) = (property["uniqueItems"] == true, present.and_then(|a| a.get(0))) {
                let twice = json!([item, item]);
                cases.push((
                    format!("{field} with an item twice"),
                    with_value(body, &path, Some(twice)),
                    Expect::Refused(422),
                ));
            }
            for (what, value) in number_violations(items) {
                cases.push((
                    format!("{field} with an item {what}"),
                    with_value(body, &path, Some(json!([value]))),
                    Expect::Refused(422),
                ));
            }
            for value in number_bounds(items) {
                cases.push((
                    format!("{field} = [{value}]"),
                    with_value(body, &path, Some(json!([value]))),
                    Expect::Accepted,
                ));
            }
        }
        if present.is_some_and(Value::is_object) {
            body_cases(doc, property, body, &path, cases);
        }
    }
}

struct Answer {
    status: u16,
    code: Option<String>,
}

/// A request as the operator, whose token may call every route.
async fn call(app: &TestApp, method: &str, target: &str, content_type: Option<&str>, body: Option<Vec<u8>>) -> Answer {
    call_with(app, &app.operator_token("acct"), method, target, content_type, body).await
}

async fn call_with(
    app: &TestApp,
    token: &str,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
    let mut request = app.http.request(method, format!("{}{target}", app.address)).bearer_auth(token);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Answer { status, code: body["error"]["code"].as_str().map(str::to_owned) }
}

struct Route<'a> {
    method: &'a str,
    path: &'a str,
    operation: &'a Value,
    failures: Vec<String>,
}

impl Route<'_> {
    fn expect(&mut self, what: &str, answer: &Answer, expected: u16) {
        let declared = self.operation["responses"].get(answer.status.to_string()).is_some();
        // Every refusal is in the API's error shape.
        if answer.status != expected || !declared || answer.code.is_none() {
            self.failures.push(format!(
                "{} {} {what}: answered {} ({:?}), expected {expected}; declared: {declared}",
                self.method, self.path, answer.status, answer.code
            ));
        }
    }

    fn accepted(&mut self, what: &str, answer: &Answer) {
        let refused = answer.status >= 500 || answer.code.as_deref().is_some_and(|c| REFUSALS.contains(&c));
        let declared = self.operation["responses"].get(answer.status.to_string()).is_some();
        if refused || !declared {
            self.failures.push(format!(
                "{} {} {what}: refused at its bound with {} ({:?}); declared: {declared}",
                self.method, self.path, answer.status, answer.code
            ));
        }
    }
}

fn parameters<'a>(operation: &'a Value, location: &str) -> Vec<&'a Value> {
    operation["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == location).collect()
}

fn concrete_path(doc: &Value, path: &str, operation: &Value, replace: Option<(&str, &str)>) -> String {
    let mut concrete = path.to_owned();
    for param in parameters(operation, "path") {
        let name = param["name"].as_str().expect("a name");
        let schema = resolve(doc, &param["schema"]);
        let value = match replace {
            Some((replaced, value)) if replaced == name => value.to_owned(),
            _ => match schema["enum"].get(0).and_then(Value::as_str) {
                Some(first) => first.to_owned(),
                None if path.starts_with("/webhooks/fax/") => "telnyx".to_owned(),
                // A contact is another recipient than its client.
                None if name == "contact_id" => "p2".to_owned(),
                None => "p1".to_owned(),
            },
        };
        concrete = concrete.replace(&format!("{{{name}}}"), &value);
    }
    concrete
}

fn with_query(path: String, base: &str, extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !base.is_empty() {
        parts.push(base.to_owned());
    }
    if let Some((name, value)) = extra {
        parts.push(format!("{name}={}", value.replace('%', "%25").replace(' ', "%20").replace('\u{1}', "%01")));
    }
    if parts.is_empty() {
        path
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

async fn probe(app: &TestApp, doc: &Value, method: &str, path: &str, operation: &Value) -> Vec<String> {
    let mut route = Route { method, path, operation, failures: Vec::new() };
    let base = base_query(path);
    let target = with_query(concrete_path(doc, path, operation, None), base, None);

    // Bodies: the valid one, another content type, malformed, too large.
    // A DELETE carries no body.
    if method != "get" && method != "delete" {
        // Messages take attachments: their bound is larger.
        let limit = match (method, path) {
            ("post", "/v1/messages") => tidings_api::routes::messages::MAX_AD_HOC_BODY_BYTES,
            _ => tidings_api::MAX_BODY_BYTES,
        };
        let oversize = format!(r#"{{"pad": "{}"}}"#, "x".repeat(limit + 44 * 1024)).into_bytes();
        route.expect(
            "with a body over its bound",
            &call(app, method, &target, Some("application/json"), Some(oversize)).await,
            413,
        );
    }
    if let Some(schema) = operation["requestBody"]["content"]["application/json"].get("schema") {
        let body = valid_body(method, path).unwrap_or_else(|| panic!("no valid body for {method} {path}"));
        // A route only the operator may call refuses a practice's own token.
        if operation["responses"].get("403").is_some() {
            let token = app.token("acct");
            let json = Some("application/json");
            let as_practice = call_with(app, &token, method, &target, json, Some(body.to_string().into_bytes())).await;
            route.expect("with a practice's own token", &as_practice, 403);
        }
        let valid = call(app, method, &target, Some("application/json"), Some(body.to_string().into_bytes())).await;
        route.accepted("with a valid body", &valid);
        assert!(valid.status < 300, "{method} {path}: the valid body is refused: {} {:?}", valid.status, valid.code);
        let as_text = call(app, method, &target, Some("text/plain"), Some(body.to_string().into_bytes())).await;
        route.expect("with Content-Type text/plain", &as_text, 415);
        let malformed = call(app, method, &target, Some("application/json"), Some(b"{".to_vec())).await;
        route.expect("with malformed JSON", &malformed, 400);
        let mut cases = Vec::new();
        body_cases(doc, schema, &body, &[], &mut cases);
        for (what, case, expect) in cases {
            let answer =
                call(app, method, &target, Some("application/json"), Some(case.to_string().into_bytes())).await;
            match expect {
                Expect::Refused(status) => route.expect(&format!("with {what}"), &answer, status),
                Expect::Accepted => route.accepted(&format!("with {what}"), &answer),
            }
        }
    }
    let body = valid_body(method, path).map(|b| b.to_string().into_bytes());
    let content_type = body.as_ref().map(|_| "application/json");

    // Path parameters: off their enum (an unknown resource), over their
    // length or off their pattern (a malformed id), and at their longest.
    for param in parameters(operation, "path") {
        let name = param["name"].as_str().expect("a name");
        let schema = resolve(doc, &param["schema"]);
        // A path segment is never empty: that would be another route.
        let mut cases: Vec<(String, String, u16)> = string_violations(schema)
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(what, v)| (what, v, 400))
            .collect();
        if schema["enum"].is_array() {
            cases.push(("off its enum".to_owned(), "bogus".to_owned(), 404));
        }
        for (what, value, status) in cases {
            let encoded = value.replace(' ', "%20").replace('\u{1}', "%01");
            let target = with_query(concrete_path(doc, path, operation, Some((name, &encoded))), base, None);
            let answer = call(app, method, &target, content_type, body.clone()).await;
            route.expect(&format!("with path {name} {what}"), &answer, status);
        }
        if let Some(longest) = string_at_max(schema) {
            let target = with_query(concrete_path(doc, path, operation, Some((name, &longest))), base, None);
            route.accepted(
                &format!("with path {name} at its longest"),
                &call(app, method, &target, content_type, body.clone()).await,
            );
        }
    }

    // Query parameters: each constraint broken, and each bound met.
    for param in parameters(operation, "query") {
        let name = param["name"].as_str().expect("a name");
        let schema = resolve(doc, &param["schema"]);
        let path_only = concrete_path(doc, path, operation, None);
        let mut broken: Vec<(String, String)> = string_violations(schema);
        broken.extend(number_violations(schema).into_iter().map(|(what, v)| (what, v.to_string())));
        if schema["enum"].is_array() {
            broken.push(("off its enum".to_owned(), "bogus".to_owned()));
        }
        for (what, value) in broken {
            let answer =
                call(app, method, &with_query(path_only.clone(), base, Some((name, &value))), None, None).await;
            route.expect(&format!("with query {name} {what}"), &answer, 400);
        }
        // A cursor (and `before_id`, a notification's id that pages only
        // with its `before_at`) is only ever one the API gave out: no other
        // value is accepted, whatever its length.
        let cursor = matches!(name, "cursor" | "before_id");
        let mut met: Vec<String> = if cursor { Vec::new() } else { string_at_max(schema).into_iter().collect() };
        met.extend(number_bounds(schema).iter().map(Value::to_string));
        for value in met {
            let answer =
                call(app, method, &with_query(path_only.clone(), base, Some((name, &value))), None, None).await;
            route.accepted(&format!("with query {name} = {value}"), &answer);
        }
    }
    route.failures
}

#[tokio::test]
async fn the_document_lists_every_route_and_the_router_enforces_what_it_declares() {
    let app = spawn_app().await;
    app.given_practice("acct").await;
    for recipient in ["r1", "p1", "p2"] {
        app.given_email_client("acct", recipient).await;
    }
    let account = "acct".parse().unwrap();
    app.runtime.store.register_sender(Channel::Sms, "Riverside", &account).await.unwrap();
    let doc = app.get("acct", "/v1/openapi.json").await.body;

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = tidings_api::served_routes()
        .into_iter()
        .map(|(verb, path)| (verb.as_str().to_owned(), path.to_owned()))
        .collect();
    assert_eq!(served, documented, "the routes served and the routes documented differ");

    let mut failures = Vec::new();
    for (method, path) in &documented {
        let operation = &doc["paths"][path.as_str()][method.as_str()];
        assert!(operation["responses"].get("429").is_some(), "{method} {path} does not declare API Gateway's 429");
        failures.extend(probe(&app, &doc, method, path, operation).await);
    }
    // No filter at all is a missing required filter.
    let no_filter = call(&app, "get", "/v1/messages", None, None).await;
    assert_eq!((no_filter.status, no_filter.code.as_deref()), (400, Some("missing_filter")));
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn an_overlong_notification_id_is_a_bad_query_not_a_store_failure() {
    // DynamoDB refuses a sort key over 1024 bytes (a 500 here); the
    // embedded store does not, so the answer must come before the store.
    let app = spawn_app().await;
    app.given_practice("acct").await;
    let target = format!("/v1/notifications?before_at=2026-12-01T00:00:00Z&before_id={}", "a".repeat(2000));
    let answer = call(&app, "get", &target, None, None).await;
    assert_eq!((answer.status, answer.code.as_deref()), (400, Some("invalid_query")));
}
