//! The deployment hygiene `template.yaml` must keep: secrets out of
//! environment variables, scoped permissions, logs that expire, a table that
//! cannot be deleted by accident, access logs, an alarm on failures, no
//! log level that would log raw events, and buckets of PHI that are private,
//! encrypted, reached over TLS only and expire. cfn-lint checks the template
//! is valid; these check it stays careful.

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

/// A resource or ARN as `!Sub` text: `${X}` for `!Ref X`, `${X.Arn}` for
/// `!GetAtt X.Arn`, a `!Sub` string or a literal as written.
fn arn_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Tagged(tagged) if tagged.tag == "Sub" => tagged.value.as_str().map(str::to_owned),
        Value::Tagged(tagged) if tagged.tag == "Ref" || tagged.tag == "GetAtt" => {
            tagged.value.as_str().map(|target| format!("${{{target}}}"))
        }
        _ => None,
    }
}

/// The statements of a policy document, each with the condition it is
/// under: `!If [Condition, statement, !Ref AWS::NoValue]`.
fn policy_statements(document: &Value) -> Vec<(Option<&str>, &Value)> {
    as_list(&document["Statement"])
        .into_iter()
        .map(|statement| match statement {
            Value::Tagged(tagged) if tagged.tag == "If" => {
                let parts = tagged.value.as_sequence().expect("!If [condition, then, else]");
                assert_eq!(ref_target(&parts[2]), Some("AWS::NoValue"), "a statement's !If adds or leaves out");
                (parts[0].as_str(), &parts[1])
            }
            other => (None, other),
        })
        .collect()
}

/// The services a statement's principal names.
fn services(statement: &Value) -> Vec<&str> {
    as_list(&statement["Principal"]["Service"]).into_iter().filter_map(Value::as_str).collect()
}

/// The statements of the bucket policy of bucket `bucket`.
fn bucket_policy_statements<'a>(template: &'a Value, bucket: &str) -> Vec<(Option<&'a str>, &'a Value)> {
    resources_of(template, "AWS::S3::BucketPolicy")
        .into_iter()
        .filter(|(_, policy)| ref_target(&policy["Properties"]["Bucket"]) == Some(bucket))
        .flat_map(|(_, policy)| policy_statements(&policy["Properties"]["PolicyDocument"]))
        .collect()
}

/// Every S3 action a function's policies grant: (function, action, resource).
fn s3_grants(template: &Value) -> Vec<(String, String, String)> {
    let mut grants = Vec::new();
    for (id, statement) in function_statements(template) {
        for action in as_list(&statement["Action"]).into_iter().filter_map(Value::as_str) {
            if !action.starts_with("s3:") {
                continue;
            }
            assert!(statement["NotResource"].is_null(), "{id}: {action} on NotResource");
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{id}");
            for resource in as_list(&statement["Resource"]) {
                let resource = arn_text(resource).unwrap_or_else(|| panic!("{id}: {action} on {resource:?}"));
                grants.push((id.to_owned(), action.to_owned(), resource));
            }
        }
    }
    grants.sort();
    grants
}

/// Where `resource` (`${Bucket.Arn}/prefix/*`) points in a bucket of the
/// template: the bucket and the key prefix; `None` when it is not a bucket's
/// objects under a plain prefix.
fn object_prefix<'a>(template: &Value, resource: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = resource.strip_prefix("${")?;
    let (bucket, rest) = rest.split_once(".Arn}/")?;
    let prefix = rest.strip_suffix('*')?;
    let is_bucket = template["Resources"][bucket]["Type"].as_str() == Some("AWS::S3::Bucket");
    (is_bucket && !prefix.contains('*')).then_some((bucket, prefix))
}

fn environment_variable<'a>(function: &'a Value, name: &str) -> &'a Value {
    &function["Properties"]["Environment"]["Variables"][name]
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
    // Each function reads a secret by its ARN, and may read only that one:
    // deliver-fax the Telnyx key, the sweep (signing) and the API (checking)
    // the consent links' key.
    let variable = |function: &str, name: &str| {
        let properties = &template["Resources"][function]["Properties"];
        ref_target(&properties["Environment"]["Variables"][name]).unwrap_or_else(|| panic!("{function} {name}"))
    };
    let mut expected = vec![
        ("ApiFunction".to_owned(), variable("ApiFunction", "CONSENT_LINK_KEY_SECRET_ARN")),
        ("DeliverFaxFunction".to_owned(), variable("DeliverFaxFunction", "TELNYX_API_KEY_SECRET_ARN")),
        ("ReminderSweepFunction".to_owned(), variable("ReminderSweepFunction", "CONSENT_LINK_KEY_SECRET_ARN")),
    ];
    expected.sort();
    let mut reads: Vec<_> = function_statements(&template)
        .into_iter()
        .filter(|(_, s)| grants(s, "secretsmanager:GetSecretValue"))
        .map(|(id, statement)| (id.to_owned(), ref_target(&statement["Resource"]).unwrap_or_default()))
        .collect();
    reads.sort();
    assert_eq!(reads, expected);
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
            let exactly = &statement["Condition"]["StringEquals"]["ses:FromAddress"];
            let like = &statement["Condition"]["StringLike"]["ses:FromAddress"];
            assert!(!(exactly.is_null() && like.is_null()), "{id}: SES sends from any identity");
            if id == "NotificationDigestFunction" {
                assert_eq!(
                    ref_target(exactly),
                    Some("SenderEmail"),
                    "staff emails come from the deployment's sender only"
                );
            }
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
        assert_eq!(ref_target(&permission["Properties"]["SourceAccount"]), Some("AWS::AccountId"), "{id}");
    }
}

#[test]
fn every_bucket_is_private_encrypted_retained_and_expires() {
    let template = template();
    let buckets = resources_of(&template, "AWS::S3::Bucket");
    assert!(!buckets.is_empty());
    // Every prefix something writes to: functions' puts, services' puts.
    let mut written: Vec<(String, String)> = s3_grants(&template)
        .into_iter()
        .filter(|(_, action, _)| action == "s3:PutObject")
        .map(|(id, _, resource)| {
            let (bucket, prefix) = object_prefix(&template, &resource).unwrap_or_else(|| panic!("{id}: {resource}"));
            (bucket.to_owned(), prefix.to_owned())
        })
        .collect();
    for (id, bucket) in &buckets {
        let properties = &bucket["Properties"];
        let block = &properties["PublicAccessBlockConfiguration"];
        for flag in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
            assert_eq!(block[flag].as_bool(), Some(true), "{id}: {flag}");
        }
        let ownership = as_list(&properties["OwnershipControls"]["Rules"]);
        assert!(ownership.iter().any(|r| r["ObjectOwnership"].as_str() == Some("BucketOwnerEnforced")), "{id}: ACLs");
        let encryption = as_list(&properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]);
        assert!(!encryption.is_empty(), "{id} is not encrypted by default");
        for rule in encryption {
            let algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"].as_str();
            assert!(matches!(algorithm, Some("AES256" | "aws:kms" | "aws:kms:dsse")), "{id}: {algorithm:?}");
        }
        assert_eq!(bucket["DeletionPolicy"].as_str(), Some("Retain"), "{id}");
        let rules = as_list(&properties["LifecycleConfiguration"]["Rules"]);
        let versioned = properties["VersioningConfiguration"]["Status"].as_str() == Some("Enabled");
        assert!(
            !versioned || rules.iter().any(|r| !r["NoncurrentVersionExpiration"].is_null()),
            "{id} keeps old versions forever"
        );
        let expiring: Vec<&str> = rules
            .iter()
            .filter(|r| r["Status"].as_str() == Some("Enabled") && !r["ExpirationInDays"].is_null())
            .map(|r| r["Prefix"].as_str().unwrap_or_default())
            .collect();
        assert!(!expiring.is_empty(), "{id} keeps objects forever");
        for statement in bucket_policy_statements(&template, id).into_iter().map(|(_, s)| s) {
            if statement["Effect"].as_str() == Some("Allow") && grants(statement, "s3:PutObject") {
                for resource in as_list(&statement["Resource"]).into_iter().filter_map(arn_text) {
                    let (bucket, prefix) = object_prefix(&template, &resource).expect("a prefix");
                    written.push((bucket.to_owned(), prefix.to_owned()));
                }
            }
        }
        for (_, prefix) in written.iter().filter(|(bucket, _)| bucket == id) {
            assert!(expiring.iter().any(|rule| prefix.starts_with(rule)), "{id}: {prefix} never expires");
        }
    }
}

#[test]
fn every_bucket_refuses_plain_http() {
    let template = template();
    for (id, _) in resources_of(&template, "AWS::S3::Bucket") {
        let bucket_and_objects = [format!("${{{id}.Arn}}"), format!("${{{id}.Arn}}/*")];
        let refuses = bucket_policy_statements(&template, id).into_iter().any(|(condition, statement)| {
            let insecure = &statement["Condition"]["Bool"]["aws:SecureTransport"];
            let resources: Vec<String> = as_list(&statement["Resource"]).into_iter().filter_map(arn_text).collect();
            condition.is_none()
                && statement["Effect"].as_str() == Some("Deny")
                && statement["Principal"].as_str() == Some("*")
                && grants(statement, "s3:*")
                && (insecure.as_str() == Some("false") || insecure.as_bool() == Some(false))
                && bucket_and_objects.iter().all(|r| resources.contains(r))
        });
        assert!(refuses, "{id} does not refuse requests without TLS");
    }
}

#[test]
fn bucket_permissions_are_scoped_to_their_prefixes() {
    let template = template();
    let grants = s3_grants(&template);
    for (id, action, resource) in &grants {
        match action.as_str() {
            // Listing is of the bucket itself (it only turns AccessDenied
            // into NoSuchKey for a missing object): keys hold ids only.
            "s3:ListBucket" => {
                let bucket = resource.strip_prefix("${").and_then(|r| r.strip_suffix(".Arn}")).unwrap_or_default();
                assert_eq!(template["Resources"][bucket]["Type"].as_str(), Some("AWS::S3::Bucket"), "{id}: {resource}");
            }
            "s3:GetObject" | "s3:PutObject" => {
                let (_, prefix) = object_prefix(&template, resource).unwrap_or_else(|| panic!("{id}: {resource}"));
                assert!(!prefix.is_empty() && prefix.ends_with('/'), "{id}: {action} on the whole bucket");
            }
            // Objects go by the bucket's lifecycle, never by a function.
            other => panic!("{id} may {other}"),
        }
    }
    let grant = |id: &str, action: &str, resource: &str| (id.to_owned(), action.to_owned(), resource.to_owned());
    let mut expected = vec![
        // The documents of replies: faxes kept, downloads signed.
        grant("ApiFunction", "s3:GetObject", "${RepliesBucket.Arn}/attachments/*"),
        grant("ApiFunction", "s3:PutObject", "${RepliesBucket.Arn}/attachments/*"),
        grant("ApiFunction", "s3:ListBucket", "${RepliesBucket.Arn}"),
        // Documents staff attach: kept by the API, read by the channels
        // that carry them.
        grant("ApiFunction", "s3:PutObject", "${RepliesBucket.Arn}/outbound/*"),
        grant("DeliverEmailFunction", "s3:GetObject", "${RepliesBucket.Arn}/outbound/*"),
        grant("DeliverEmailFunction", "s3:ListBucket", "${RepliesBucket.Arn}"),
        grant("DeliverFaxFunction", "s3:GetObject", "${RepliesBucket.Arn}/outbound/*"),
        grant("DeliverFaxFunction", "s3:ListBucket", "${RepliesBucket.Arn}"),
        // Raw email read, documents kept; nothing else.
        grant("IngestRepliesFunction", "s3:GetObject", "${RepliesBucket.Arn}/inbound/*"),
        grant("IngestRepliesFunction", "s3:PutObject", "${RepliesBucket.Arn}/attachments/*"),
        grant("IngestRepliesFunction", "s3:ListBucket", "${RepliesBucket.Arn}"),
    ];
    expected.sort();
    assert_eq!(grants, expected);
}

#[test]
fn email_is_received_for_the_reply_domain_only_and_only_through_its_own_rule() {
    let template = template();
    let rules = resources_of(&template, "AWS::SES::ReceiptRule");
    assert_eq!(rules.len(), 1);
    let (rule_id, rule) = rules[0];
    // No reply domain, no receiving: the rule, its set and its permission
    // exist only under the condition, and the bucket lets SES in only then.
    let condition = rule["Condition"].as_str().expect("receiving is conditional");
    assert!(format!("{:?}", template["Conditions"][condition]).contains("ReplyDomain"), "{condition}");
    let set = ref_target(&rule["Properties"]["RuleSetName"]).expect("the rule's set");
    assert_eq!(template["Resources"][set]["Condition"].as_str(), Some(condition));
    let body = &rule["Properties"]["Rule"];
    let name = body["Name"].as_str().expect("a rule named in advance: its ARN is in policies");
    assert_eq!(body["Enabled"].as_bool(), Some(true));
    assert_eq!(body["ScanEnabled"].as_bool(), Some(true), "spam and virus verdicts");
    assert_eq!(body["TlsPolicy"].as_str(), Some("Require"));
    let recipients: Vec<_> = as_list(&body["Recipients"]).into_iter().map(ref_target).collect();
    assert_eq!(recipients, [Some("ReplyDomain")]);
    // Stored first, then handed over: the Lambda action's event has no body.
    let actions = as_list(&body["Actions"]);
    assert_eq!(actions.len(), 2);
    let (store, invoke) = (&actions[0]["S3Action"], &actions[1]["LambdaAction"]);
    let bucket = ref_target(&store["BucketName"]).expect("the bucket");
    let prefix = store["ObjectKeyPrefix"].as_str().expect("a prefix of its own");
    assert!(!prefix.is_empty() && prefix.ends_with('/'));
    assert_eq!(invoke["InvocationType"].as_str(), Some("Event"));
    let function = arn_text(&invoke["FunctionArn"]).expect("a function");
    let function = function.strip_prefix("${").and_then(|f| f.strip_suffix(".Arn}")).expect("!GetAtt F.Arn");
    let rule_arn = format!(
        "arn:${{AWS::Partition}}:ses:${{AWS::Region}}:${{AWS::AccountId}}:receipt-rule-set/${{{set}}}:receipt-rule/{name}"
    );

    let invokers: Vec<_> = resources_of(&template, "AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, p)| p["Properties"]["Principal"].as_str() == Some("ses.amazonaws.com"))
        .collect();
    assert_eq!(invokers.len(), 1);
    let (permission_id, permission) = invokers[0];
    assert_eq!(permission["Condition"].as_str(), Some(condition), "{permission_id}");
    assert_eq!(ref_target(&permission["Properties"]["FunctionName"]), Some(function));
    assert_eq!(arn_text(&permission["Properties"]["SourceArn"]), Some(rule_arn.clone()), "{permission_id}");

    let puts: Vec<_> = bucket_policy_statements(&template, bucket)
        .into_iter()
        .filter(|(_, s)| services(s).contains(&"ses.amazonaws.com"))
        .collect();
    assert_eq!(puts.len(), 1);
    let (statement_condition, statement) = puts[0];
    assert_eq!(statement_condition, Some(condition));
    assert_eq!(statement["Effect"].as_str(), Some("Allow"));
    let actions: Vec<_> = as_list(&statement["Action"]).into_iter().filter_map(Value::as_str).collect();
    assert_eq!(actions, ["s3:PutObject"]);
    let resources: Vec<_> = as_list(&statement["Resource"]).into_iter().filter_map(arn_text).collect();
    assert_eq!(resources, [format!("${{{bucket}.Arn}}/{prefix}*")]);
    let source = &statement["Condition"]["StringEquals"];
    assert_eq!(ref_target(&source["aws:SourceAccount"]), Some("AWS::AccountId"));
    assert_eq!(arn_text(&source["aws:SourceArn"]), Some(rule_arn));

    // SES checks both when it creates the rule.
    let depends: Vec<_> = as_list(&rule["DependsOn"]).into_iter().filter_map(Value::as_str).collect();
    assert!(depends.contains(&permission_id), "{rule_id} does not wait for {permission_id}");
    let policy = resources_of(&template, "AWS::S3::BucketPolicy")
        .into_iter()
        .find(|(_, p)| ref_target(&p["Properties"]["Bucket"]) == Some(bucket))
        .map(|(id, _)| id)
        .expect("the bucket's policy");
    assert!(depends.contains(&policy), "{rule_id} does not wait for {policy}");
}

#[test]
fn inbound_email_is_read_where_the_receipt_rule_stores_it() {
    let template = template();
    let (_, rule) = resources_of(&template, "AWS::SES::ReceiptRule")[0];
    let prefix = as_list(&rule["Properties"]["Rule"]["Actions"])
        .into_iter()
        .find_map(|action| action["S3Action"]["ObjectKeyPrefix"].as_str())
        .expect("the rule's prefix");
    let readers: Vec<_> = resources_of(&template, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| !environment_variable(f, "INBOUND_EMAIL_PREFIX").is_null())
        .collect();
    assert!(readers.iter().any(|(id, _)| *id == "IngestRepliesFunction"));
    for (id, function) in readers {
        assert_eq!(environment_variable(function, "INBOUND_EMAIL_PREFIX").as_str(), Some(prefix), "{id}");
    }
    // The local runner stores received mail the same way.
    assert_eq!(tidings_local::runtime::INBOUND_EMAIL_PREFIX, prefix);
}

#[test]
fn one_parameter_each_for_the_reply_domain_and_keyword_answer_prices() {
    let template = template();
    let functions = resources_of(&template, "AWS::Serverless::Function");
    let with_domain: Vec<&str> = functions
        .iter()
        .filter(|(_, f)| !environment_variable(f, "REPLY_DOMAIN").is_null())
        .map(|(id, _)| *id)
        .collect();
    for needed in ["ApiFunction", "DeliverEmailFunction", "IngestRepliesFunction"] {
        assert!(with_domain.contains(&needed), "{needed} lacks REPLY_DOMAIN");
    }
    for (id, function) in &functions {
        let domain = environment_variable(function, "REPLY_DOMAIN");
        assert!(domain.is_null() || ref_target(domain) == Some("ReplyDomain"), "{id}");
        // Prices are the same for every function: set once, in Globals.
        assert!(environment_variable(function, "KEYWORD_ANSWERS_FREE").is_null(), "{id}");
        assert!(environment_variable(function, "PRICE_SMS_SEGMENT_CENTS").is_null(), "{id}");
    }
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(!globals["PRICE_SMS_SEGMENT_CENTS"].is_null());
    let free = ref_target(&globals["KEYWORD_ANSWERS_FREE"]).expect("KEYWORD_ANSWERS_FREE parameter");
    assert_eq!(free, "KeywordAnswersFree");
    let allowed: Vec<_> =
        as_list(&template["Parameters"][free]["AllowedValues"]).into_iter().filter_map(Value::as_str).collect();
    assert_eq!(allowed, ["true", "false"]);
    assert_eq!(template["Parameters"][free]["Default"].as_str(), Some("false"));
}

#[test]
fn asynchronously_invoked_functions_send_failures_to_the_queue() {
    let template = template();
    // Invoked as Event by a receipt rule.
    let by_ses: Vec<String> = resources_of(&template, "AWS::SES::ReceiptRule")
        .into_iter()
        .flat_map(|(_, rule)| as_list(&rule["Properties"]["Rule"]["Actions"]))
        .map(|action| &action["LambdaAction"])
        .filter(|lambda| lambda["InvocationType"].as_str() == Some("Event"))
        .filter_map(|lambda| arn_text(&lambda["FunctionArn"]))
        .collect();
    let mut checked = Vec::new();
    for (id, function) in resources_of(&template, "AWS::Serverless::Function") {
        let events = function["Properties"]["Events"].as_mapping().cloned().unwrap_or_default();
        let by_event = events.values().any(|e| matches!(e["Type"].as_str(), Some("SNS" | "EventBridgeRule")));
        if !by_event && !by_ses.contains(&format!("${{{id}.Arn}}")) {
            continue;
        }
        let config = &function["Properties"]["EventInvokeConfig"];
        assert!(!config["MaximumRetryAttempts"].is_null(), "{id}");
        let failure = &config["DestinationConfig"]["OnFailure"];
        assert_eq!(arn_text(&failure["Destination"]).as_deref(), Some("${AsyncFailureQueue.Arn}"), "{id}");
        checked.push(id);
    }
    assert_eq!(by_ses, ["${IngestRepliesFunction.Arn}"]);
    for id in ["DeliverEmailFunction", "DeliveryStatusFunction", "IngestRepliesFunction"] {
        assert!(checked.contains(&id), "{id} is invoked asynchronously: {checked:?}");
    }
}

#[test]
fn services_publish_to_topics_only_for_this_account() {
    let template = template();
    for (id, policy) in resources_of(&template, "AWS::SNS::TopicPolicy") {
        for (_, statement) in policy_statements(&policy["Properties"]["PolicyDocument"]) {
            if !services(statement).is_empty() {
                let account = &statement["Condition"]["StringEquals"]["aws:SourceAccount"];
                assert_eq!(ref_target(account), Some("AWS::AccountId"), "{id}");
            }
        }
    }
}

#[test]
fn inbound_texts_arrive_on_a_topic_end_user_messaging_may_publish_to_encrypted() {
    let template = template();
    let topic = &template["Resources"]["InboundSmsTopic"];
    // The AWS-managed SNS key cannot be granted to a service: publishing to
    // a topic encrypted with it would fail. The key must be the stack's own.
    let key = ref_target(&topic["Properties"]["KmsMasterKeyId"]).expect("a key of the stack's");
    assert_eq!(template["Resources"][key]["Type"].as_str(), Some("AWS::KMS::Key"));
    assert_eq!(template["Resources"][key]["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    let key_grant = policy_statements(&template["Resources"][key]["Properties"]["KeyPolicy"])
        .into_iter()
        .map(|(_, s)| s)
        .find(|s| services(s).contains(&"sms-voice.amazonaws.com"))
        .expect("End User Messaging may use the key");
    assert!(grants(key_grant, "kms:GenerateDataKey*") && grants(key_grant, "kms:Decrypt"));
    assert_eq!(ref_target(&key_grant["Condition"]["StringEquals"]["aws:SourceAccount"]), Some("AWS::AccountId"));
    let publishes = resources_of(&template, "AWS::SNS::TopicPolicy").into_iter().any(|(_, policy)| {
        as_list(&policy["Properties"]["Topics"]).into_iter().any(|t| ref_target(t) == Some("InboundSmsTopic"))
            && policy_statements(&policy["Properties"]["PolicyDocument"])
                .into_iter()
                .any(|(_, s)| services(s).contains(&"sms-voice.amazonaws.com") && grants(s, "sns:Publish"))
    });
    assert!(publishes, "End User Messaging may not publish inbound texts");
    let events = &template["Resources"]["IngestRepliesFunction"]["Properties"]["Events"];
    let subscribed =
        events.as_mapping().expect("events").values().any(|e| {
            e["Type"].as_str() == Some("SNS") && ref_target(&e["Properties"]["Topic"]) == Some("InboundSmsTopic")
        });
    assert!(subscribed);
}

#[test]
fn the_local_runner_reads_the_template() {
    // ingest-replies is invoked by SNS and SES, which the runner stands in
    // for itself (/local/sms/inbound, /local/email/inbound); it refuses to
    // start if a bus rule or schedule named a function it does not run.
    let deployed = tidings_local::template::Template::deployed().expect("the runner reads template.yaml");
    assert!(deployed.routes.iter().all(|r| r.function != "ingest-replies"));
    assert!(deployed.schedules.iter().all(|s| s.function != "ingest-replies"));
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
