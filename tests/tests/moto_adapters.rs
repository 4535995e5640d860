//! The AWS adapters against moto server (started by `infra/test.sh`),
//! reading back what moto received.

use base64::Engine as _;
use chrono::{Duration, TimeZone, Utc};
use tidings::channels::blobs::{BlobError, BlobKey, BlobStore, Download};
use tidings::channels::s3::{S3Blobs, DOWNLOAD_LINK_TTL};
use tidings::channels::ses::{SesEmailSender, SesStaffMailer};
use tidings::channels::sns::{SmsOrigin, SnsSmsSender};
use tidings::channels::staff_mail::{StaffMail, StaffMailer};
use tidings::channels::{ChannelSender, Outgoing};
use tidings::domain::digest::StaffEmail;
use tidings::domain::{
    AccountId, Attachment, Channel, EmailAddress, Letterhead, Message, MessageKind, MessageStatus, RenderedContent,
};
use tidings::events::eventbridge::EventBridgePublisher;
use tidings::events::{BusEvent, EventPublisher, MessageReady};
use tidings::store::{DueMessage, Store};
use tidings_e2e::{moto_config, moto_data};
use tidings_local::template::Template;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Sends `content` as one message of a test account.
async fn send(sender: &dyn ChannelSender, content: &RenderedContent) -> Result<String, tidings::channels::SendError> {
    let account: AccountId = "acct-moto".parse().unwrap();
    let message: tidings::domain::MessageId = "appt-1~reminder~1440".parse().unwrap();
    sender.send(Outgoing { account_id: &account, message_id: &message, claim_token: "claim-1", content }).await
}

/// Every raw email moto received, as the MIME text SES would send.
fn raw_emails(data: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_raw(&data["ses"], &mut found);
    found
}

fn collect_raw(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            if let Some(raw) = fields.get("raw_data").and_then(|raw| raw.as_str()) {
                found.push(raw.to_owned());
            }
            fields.values().for_each(|field| collect_raw(field, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_raw(item, found)),
        _ => {}
    }
}

/// A header of a MIME message, its folded lines joined.
fn header(raw: &str, name: &str) -> Option<String> {
    let mut lines = raw.split("\r\n").skip_while(|line| !line.starts_with(&format!("{name}: ")));
    let first = lines.next()?.strip_prefix(&format!("{name}: "))?.to_owned();
    Some(lines.take_while(|line| line.starts_with([' ', '\t'])).fold(first, |joined, line| joined + " " + line.trim()))
}

/// A verified sender of its own, so parallel tests never share one.
async fn verified(ses: &aws_sdk_sesv2::Client, domain: &str) -> String {
    let address = format!("{}@{domain}", unique("reminders"));
    ses.create_email_identity().email_identity(&address).send().await.unwrap();
    address
}

#[tokio::test]
async fn ses_v2_sends_the_rendered_email() {
    let config = moto_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let from = verified(&ses, "clinic.example.com").await;
    let to = format!("{}@example.com", unique("ann"));
    let sender = SesEmailSender::new(ses, from.parse().unwrap(), None, None);
    let content = RenderedContent {
        to: to.clone(),
        subject: Some("Appointment reminder".into()),
        body: "Hello Ann, see you tomorrow.".into(),
        ..RenderedContent::default()
    };
    let message_id = send(&sender, &content).await.unwrap();
    assert!(!message_id.is_empty());

    let data = moto_data().await;
    let sent = data["ses"].to_string();
    assert!(sent.contains(&message_id), "{sent}");
    let raw = raw_emails(&data).into_iter().find(|raw| raw.contains(&to)).expect("moto saw no email to the recipient");
    assert_eq!(header(&raw, "From"), Some(format!("<{from}>")), "{raw}");
    assert_eq!(header(&raw, "Subject").as_deref(), Some("Appointment reminder"), "{raw}");
    assert!(raw.contains("Hello Ann, see you tomorrow."), "{raw}");
    assert_eq!(header(&raw, "Reply-To"), None, "no reply domain, no reply address: {raw}");
}

#[tokio::test]
async fn ses_v2_sends_a_staff_email_from_the_deployment_sender() {
    let config = moto_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let from = verified(&ses, "tidings.example.com").await;
    let to: EmailAddress = format!("{}@riverside.example", unique("frontdesk")).parse().unwrap();
    let mailer = SesStaffMailer::new(ses, from.parse().unwrap(), None);
    let email = StaffEmail {
        subject: "Riverside Clinic: 2 new notifications".into(),
        text: "A new message to read (2)".into(),
        html: "<p>A new message to read (2)</p>".into(),
    };
    let (account, user) = ("acct".parse().unwrap(), "frontdesk".parse().unwrap());
    let mail = StaffMail { account_id: &account, user_id: &user, to: &to, email: &email };
    let message_id = mailer.send(mail).await.unwrap();
    let sent = moto_data().await["ses"].to_string();
    assert!(sent.contains(&message_id) && sent.contains("Riverside Clinic: 2 new notifications"), "{sent}");
}

#[tokio::test]
async fn ses_v2_sends_html_an_attachment_and_the_reply_address_from_the_account_identity() {
    let config = moto_config().await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let deployment = verified(&ses, "tidings.example.com").await;
    let account_identity = verified(&ses, "riverside.example.com").await;
    let to = format!("{}@example.com", unique("ann"));
    let sender =
        SesEmailSender::new(ses, deployment.parse().unwrap(), None, Some("replies.tidings.example.com".into()));
    let token = unique("tok");
    let pdf = b"%PDF-1.4 intake form".to_vec();
    let content = RenderedContent {
        to: to.clone(),
        subject: Some("Your visit tomorrow".into()),
        body: "See you tomorrow.".into(),
        html: Some("<p>See you <b>tomorrow</b>.</p>".into()),
        from: Some(account_identity.clone()),
        reply_token: Some(token.clone()),
        letterhead: Some(Letterhead {
            practice_name: "Riverside Clinic".into(),
            practice_phone: "+12025550143".into(),
            recipient_name: "Ann Lee".into(),
        }),
        attachments: vec![Attachment {
            filename: "intake.pdf".into(),
            content_type: "application/pdf".into(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(&pdf),
        }],
        ..RenderedContent::default()
    };
    send(&sender, &content).await.unwrap();

    let raw = raw_emails(&moto_data().await)
        .into_iter()
        .find(|raw| raw.contains(&to))
        .expect("moto saw no email to the recipient");
    assert_eq!(header(&raw, "From"), Some(format!("\"Riverside Clinic\" <{account_identity}>")), "{raw}");
    assert!(!raw.contains(&deployment), "{raw}");
    assert_eq!(header(&raw, "Reply-To"), Some(format!("<reply+{token}@replies.tidings.example.com>")), "{raw}");
    assert_eq!(header(&raw, "Subject").as_deref(), Some("Your visit tomorrow"), "{raw}");
    assert!(raw.contains("Content-Type: multipart/mixed"), "{raw}");
    assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
    assert!(raw.contains("Content-Type: text/html"), "{raw}");
    assert!(raw.contains("<p>See you <b>tomorrow</b>.</p>"), "{raw}");
    assert!(raw.contains("Content-Disposition: attachment; filename=\"intake.pdf\""), "{raw}");
    assert!(raw.contains(&base64::engine::general_purpose::STANDARD.encode(&pdf)), "{raw}");
}

#[tokio::test]
async fn ses_refusal_of_an_unverified_sender_is_permanent() {
    let config = moto_config().await;
    let sender = SesEmailSender::new(
        aws_sdk_sesv2::Client::new(&config),
        format!("{}@unverified.example.com", unique("nobody")).parse().unwrap(),
        None,
        None,
    );
    let content = RenderedContent {
        to: "a@example.com".into(),
        subject: Some("s".into()),
        body: "b".into(),
        ..RenderedContent::default()
    };
    let err = send(&sender, &content).await.unwrap_err();
    assert!(matches!(err, tidings::channels::SendError::Permanent(_)), "{err:?}");
}

#[tokio::test]
async fn sns_publishes_a_transactional_sms_to_the_number() {
    let config = moto_config().await;
    let sender = SnsSmsSender::new(
        aws_sdk_sns::Client::new(&config),
        SmsOrigin { sender_id: Some("Riverside".into()), origination_number: None },
    );
    let body = format!("Riverside Clinic: reminder {}", unique("sms"));
    let content = RenderedContent { to: "+12025550143".into(), body: body.clone(), ..RenderedContent::default() };
    let message_id = send(&sender, &content).await.unwrap();
    assert!(!message_id.is_empty());
    let sent = moto_data().await["sns"].to_string();
    assert!(sent.contains(&body), "moto saw no such SMS: {sent}");
    assert!(sent.contains("+12025550143"), "{sent}");
}

#[tokio::test]
async fn eventbridge_puts_message_ready_on_the_bus_for_the_channel_rule() {
    let config = moto_config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = unique("tidings");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let queue = sqs.create_queue().queue_name(unique("email-rule")).send().await.unwrap();
    let queue_url = queue.queue_url.unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .unwrap();
    // The pattern of deliver-email's rule in template.yaml.
    let pattern =
        serde_json::json!({"source": ["tidings"], "detail-type": ["MessageReady"], "detail": {"channel": ["email"]}});
    events.put_rule().name("email").event_bus_name(&bus).event_pattern(pattern.to_string()).send().await.unwrap();
    events
        .put_targets()
        .rule("email")
        .event_bus_name(&bus)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("q").arn(queue_arn).build().unwrap())
        .send()
        .await
        .unwrap();

    let publisher = EventBridgePublisher::new(events, &bus);
    let ready = |channel| MessageReady {
        account_id: "acct".parse().unwrap(),
        message_id: "a1~reminder~1440~100".parse().unwrap(),
        channel,
        claim_token: "token-1".into(),
    };
    let batch: Vec<BusEvent> =
        (0..12).map(|i| BusEvent::from(&ready(if i == 0 { Channel::Email } else { Channel::Sms }))).collect();
    publisher.publish(batch).await.unwrap();

    let received = sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<serde_json::Value> = received
        .messages
        .unwrap_or_default()
        .iter()
        .map(|m| serde_json::from_str(m.body.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1, "only the email event matches the email rule: {bodies:?}");
    assert_eq!(bodies[0]["detail-type"], "MessageReady");
    let detail: MessageReady = serde_json::from_value(bodies[0]["detail"].clone()).unwrap();
    assert_eq!(detail, ready(Channel::Email));
}

fn scheduled(id: &str, due: chrono::DateTime<Utc>) -> Message {
    Message {
        appointment_id: Some("a1".parse().unwrap()),
        offset_minutes: Some(1440),
        not_after: Some(due + Duration::hours(24)),
        ..Message::new(
            id.parse().unwrap(),
            MessageKind::AppointmentReminder,
            Channel::Email,
            "r1".parse().unwrap(),
            due,
            due - Duration::days(1),
        )
    }
}

#[tokio::test]
async fn the_store_runs_on_moto_dynamodb_from_the_template_declaration() {
    let config = moto_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique("TidingsTable");
    Template::deployed().unwrap().table("TidingsTable").unwrap().create(&client, &table).await.unwrap();
    let store = Store::new(client, &table);
    let account: AccountId = "acct".parse().unwrap();
    let due = Utc.with_ymd_and_hms(2026, 12, 2, 14, 0, 0).unwrap();
    for i in 0..5 {
        assert!(store.create_message(&account, &scheduled(&format!("m{i}"), due)).await.unwrap());
    }
    assert!(!store.create_message(&account, &scheduled("m0", due)).await.unwrap(), "a replay writes nothing");

    let mut found = Vec::new();
    for shard in store.due_shards().await.all() {
        found.extend(store.due_messages(shard, due, 100, None).await.unwrap().due);
    }
    assert_eq!(found.len(), 5);
    let mut none_due = 0;
    for shard in store.due_shards().await.all() {
        none_due += store.due_messages(shard, due - Duration::seconds(1), 100, None).await.unwrap().due.len();
    }
    assert_eq!(none_due, 0);
    assert_eq!(store.next_due().await.unwrap(), Some(due));

    // Eight concurrent claims of one message: exactly one wins.
    let id: tidings::domain::MessageId = "m0".parse().unwrap();
    let mut read = Vec::new();
    for _ in 0..8 {
        match store.read_due(&[(account.clone(), id.clone())], due, Duration::minutes(5)).await.unwrap().remove(0) {
            DueMessage::Claimable(claimable) => read.push(*claimable),
            other => panic!("not claimable: {other:?}"),
        }
    }
    let claims = read.iter().map(|claimable| store.write_claim(claimable));
    let winners: Vec<_> = futures::future::join_all(claims).await.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(winners.len(), 1);
    let winner = &winners[0];
    let lease = Duration::minutes(5);
    let started = store.start_send(&account, &id, &winner.claim_token, due, lease).await.unwrap();
    assert!(started.is_some());
    assert!(store.start_send(&account, &id, &winner.claim_token, due, lease).await.unwrap().is_none());
    assert!(
        store.recover_stuck_send(&account, &id, due + Duration::minutes(4)).await.unwrap().is_none(),
        "a send under way is not recovered before its lease ends"
    );
    let settled = tidings::store::Settlement::sent(due, Channel::Email, "provider-1".into());
    assert!(store.settle(&account, &id, &winner.claim_token, &settled).await.unwrap());

    let stored = store.get_message(&account, &id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Sent);
    assert_eq!(stored.provider_message_id.as_deref(), Some("provider-1"));
    let listed = store.messages_for_appointment(&account, &"a1".parse().unwrap()).await.unwrap();
    assert_eq!(listed.len(), 5);
    let mut remaining = 0;
    for shard in store.due_shards().await.all() {
        remaining += store.due_messages(shard, due + Duration::hours(1), 100, None).await.unwrap().due.len();
    }
    assert_eq!(remaining, 4, "the sent message left the sparse due index");
}

/// The S3 client as a Lambda would build it, addressing buckets by path:
/// moto answers on one loopback host, not on a name per bucket.
async fn s3_blobs() -> (aws_sdk_s3::Client, S3Blobs, String) {
    let config = moto_config().await;
    let client =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let bucket = unique("tidings-blobs");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    (client.clone(), S3Blobs::new(client, &bucket, DOWNLOAD_LINK_TTL), bucket)
}

#[tokio::test]
async fn s3_keeps_a_blob_encrypted_reads_it_back_and_finds_a_missing_one_missing() {
    let (client, blobs, bucket) = s3_blobs().await;
    let key = BlobKey::attachment(&"acct:moto".parse().unwrap(), "fax~telnyx~f1", "0").unwrap();
    let pdf = b"%PDF-1.4 an inbound fax".to_vec();
    blobs.put(&key, pdf.clone(), "application/pdf").await.unwrap();
    blobs.put(&key, pdf.clone(), "application/pdf").await.expect("the same bytes again are fine");

    assert_eq!(blobs.get(&key).await.unwrap(), Some(pdf));
    let head = client.head_object().bucket(&bucket).key(key.as_str()).send().await.unwrap();
    assert_eq!(head.server_side_encryption, Some(aws_sdk_s3::types::ServerSideEncryption::Aes256));
    assert_eq!(head.content_type.as_deref(), Some("application/pdf"));

    let missing = BlobKey::attachment(&"acct:moto".parse().unwrap(), "fax~telnyx~f1", "1").unwrap();
    assert_eq!(blobs.get(&missing).await.unwrap(), None);
}

#[tokio::test]
async fn s3_refuses_a_bucket_that_does_not_exist_for_good() {
    let config = moto_config().await;
    let client =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let blobs = S3Blobs::new(client, unique("no-such-bucket"), DOWNLOAD_LINK_TTL);
    let key = BlobKey::inbound_email("inbound/", "m1").unwrap();
    let err = blobs.put(&key, b"x".to_vec(), "message/rfc822").await.unwrap_err();
    assert_eq!(err, BlobError::Refused("NoSuchBucket".into()));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn s3_downloads_are_short_lived_presigned_links_that_name_the_file() {
    let (_, blobs, bucket) = s3_blobs().await;
    let key = BlobKey::inbound_email("inbound/", &unique("ses-message")).unwrap();
    let pdf = b"%PDF-1.4 lab results".to_vec();
    blobs.put(&key, pdf.clone(), "application/pdf").await.unwrap();

    let download = blobs.download(&key, "lab \"results\".pdf", "application/pdf").await.unwrap();
    let Download::Redirect { url } = download else { panic!("S3 downloads redirect: {download:?}") };
    assert!(url.contains(&bucket) && url.contains("X-Amz-Signature="), "a presigned link to the object");
    assert!(url.contains("X-Amz-Expires=300"), "it lives five minutes");

    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("content-disposition").as_deref(), Some("attachment; filename=\"lab _results_.pdf\""));
    assert_eq!(header("content-type").as_deref(), Some("application/pdf"));
    assert_eq!(response.bytes().await.unwrap().to_vec(), pdf);
}
