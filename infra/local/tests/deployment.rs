//! The deployment hygiene `template.yaml` must keep: secrets out of
//! environment variables, scoped permissions, logs that expire, a table that
//! cannot be deleted by accident, access logs, an alarm on failures, and no
//! log level that would log raw events. cfn-lint checks the template is
//! valid; these check it stays careful.

use serde_yaml_ng::Value;
use tidings_local::template::TEMPLATE_YAML;

fn template() -> Value {
    serde_yaml_ng::from_str(TEMPLATE_YAML).expect("template.yaml parses")
}

/// The logical id a `!Ref X` (or `{Ref: X}`) names.
fn ref_target(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Mapping(map) => map.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

fn resources_of<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(id, resource)| (id.as_str().expect("logical id"), resource))
        .collect()
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Every IAM statement the functions' inline policies hold.
fn function_statements(template: &Value) -> Vec<(&str, &Value)> {
    resources_of(template, "AWS::Serverless::Function")
        .into_iter()
        .flat_map(|(id, function)| {
            as_list(&function["Properties"]["Policies"])
                .into_iter()
                .flat_map(|policy| as_list(&policy["Statement"]))
                .map(move |statement| (id, statement))
        })
        .collect()
}

fn grants(statement: &Value, action: &str) -> bool {
    as_list(&statement["Action"]).iter().any(|a| a.as_str() == Some(action))
}

#[test]
fn every_function_logs_to_a_group_that_expires() {
    let template = template();
    for (id, function) in resources_of(&template, "AWS::Serverless::Function") {
        let group = ref_target(&function["Properties"]["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{id} has no LoggingConfig.LogGroup of its own"));
        assert_eq!(template["Resources"][group]["Type"].as_str(), Some("AWS::Logs::LogGroup"), "{id}");
    }
    for (id, group) in resources_of(&template, "AWS::Logs::LogGroup") {
        assert!(!group["Properties"]["RetentionInDays"].is_null(), "{id} keeps logs forever");
    }
}

#[test]
fn the_table_is_protected_from_deletion() {
    let template = template();
    let table = &template["Resources"]["TidingsTable"];
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
}

#[test]
fn no_secret_parameter_reaches_an_environment_variable() {
    let template = template();
    let secrets: Vec<&str> = template["Parameters"]
        .as_mapping()
        .expect("Parameters")
        .iter()
        .filter(|(_, p)| p["NoEcho"].as_bool() == Some(true))
        .filter_map(|(name, _)| name.as_str())
        .collect();
    let mut environments = vec![&template["Globals"]["Function"]["Environment"]["Variables"]];
    environments.extend(
        resources_of(&template, "AWS::Serverless::Function")
            .into_iter()
            .map(|(_, f)| &f["Properties"]["Environment"]["Variables"]),
    );
    for variables in environments.into_iter().filter_map(Value::as_mapping) {
        for (name, value) in variables {
            let referenced = ref_target(value).unwrap_or_default();
            assert!(!secrets.contains(&referenced), "{name:?} carries the secret {referenced}");
            assert_ne!(name.as_str(), Some("TELNYX_API_KEY"), "the Telnyx key belongs in Secrets Manager");
        }
    }
    // deliver-fax reads the key by its secret's ARN, and may read only that.
    let fax = &template["Resources"]["DeliverFaxFunction"]["Properties"];
    let arn = ref_target(&fax["Environment"]["Variables"]["TELNYX_API_KEY_SECRET_ARN"]).expect("secret ARN variable");
    let reads: Vec<_> = function_statements(&template)
        .into_iter()
        .filter(|(_, s)| grants(s, "secretsmanager:GetSecretValue"))
        .collect();
    assert_eq!(reads.len(), 1, "only deliver-fax reads secrets");
    assert_eq!(reads[0].0, "DeliverFaxFunction");
    assert_eq!(ref_target(&reads[0].1["Resource"]), Some(arn));
}

#[test]
fn sending_permissions_are_scoped() {
    let template = template();
    for (id, statement) in function_statements(&template) {
        if grants(statement, "sns:Publish") {
            // Texts go to phone numbers, which have no ARN: every topic is excluded.
            assert!(statement["Resource"].is_null(), "{id}: sns:Publish on any resource");
            assert_eq!(statement["NotResource"].as_str(), Some("arn:aws:sns:*:*:*"), "{id}");
        }
        if grants(statement, "ses:SendEmail") {
            let from = &statement["Condition"]["StringLike"]["ses:FromAddress"];
            assert!(!from.is_null(), "{id}: SES sends from any identity");
        }
    }
}

#[test]
fn every_lambda_permission_names_its_source() {
    let template = template();
    let permissions = resources_of(&template, "AWS::Lambda::Permission");
    assert!(!permissions.is_empty());
    for (id, permission) in permissions {
        assert!(!permission["Properties"]["SourceArn"].is_null(), "{id} has no SourceArn");
    }
}

#[test]
fn the_http_api_keeps_access_logs() {
    let template = template();
    let settings = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    assert!(!settings["DestinationArn"].is_null() && !settings["Format"].is_null());
    let format = settings["Format"].as_str().expect("a literal format");
    // Routes, not paths: paths carry the practice's record ids.
    assert!(format.contains("$context.routeKey") && !format.contains("$context.path"), "{format}");
}

#[test]
fn a_message_in_the_failure_queue_raises_an_alarm() {
    let template = template();
    let watching_the_queue = resources_of(&template, "AWS::CloudWatch::Alarm").into_iter().any(|(_, alarm)| {
        let properties = &alarm["Properties"];
        as_list(&properties["Dimensions"]).iter().any(|d| {
            d["Name"].as_str() == Some("QueueName") && format!("{:?}", d["Value"]).contains("AsyncFailureQueue")
        }) && !properties["AlarmActions"].is_null()
    });
    assert!(watching_the_queue);
}

#[test]
fn the_deployed_log_level_cannot_be_trace() {
    let template = template();
    let level = ref_target(&template["Globals"]["Function"]["Environment"]["Variables"]["RUST_LOG"])
        .expect("RUST_LOG parameter");
    let allowed: Vec<&str> =
        as_list(&template["Parameters"][level]["AllowedValues"]).into_iter().filter_map(Value::as_str).collect();
    assert!(!allowed.is_empty() && !allowed.contains(&"trace"), "{allowed:?}");
}
