//! The local runtime: the embedded store, the functions `template.yaml`
//! declares wired to local sinks, the bus, the clock and the schedules.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use serde::Serialize;
use tidings::channels::blobs::{BlobKey, BlobStore};
use tidings::channels::email_inbound::AttachmentLimits;
use tidings::channels::fax::telnyx::TelnyxWebhookVerifier;
use tidings::channels::fax::FaxSender;
use tidings::channels::ChannelSender;
use tidings::domain::form::FormTokens;
use tidings::domain::{Channel, Clock, ConsentLinks, PhoneNumber, PriceTable, SystemClock, Templates};
use tidings::services::{
    AdHocService, ConsentService, CreditService, Delivery, DeliveryConfig, FormService, InboundConfig, OptInService,
    OutcomeService, RecordsService, ReminderSweep, ReplyService, RetryPolicy, StaffDigests, StaffService, SweepConfig,
    SweepReport, VoiceCall,
};
use tidings::store::Store;
use tidings_api::{ApiState, FaxWebhook};

use crate::auth::TokenKey;
use crate::blobs::FolderBlobs;
use crate::bus::{BusOptions, DeliveryFunction, LateBus, LocalBus, LocalFunction, OptInFunction};
use crate::clock::ManualClock;
use crate::embedded::{EmbeddedDynamo, EmbeddedError, INVOKED_FUNCTION};
use crate::fax::{InboundMedia, LocalFaxMedia, LocalFaxProvider, LocalFaxSigner, LocalOrigin};
use crate::sinks::{LocalSink, LocalStaffMailer, Outbox, LOCAL_REPLY_DOMAIN};
use crate::template::{Template, TemplateError};
use crate::voice::{LocalCallControl, LocalCalls, LocalVoiceSink};

/// The logical id of the table in `template.yaml`; locally, also its name.
pub const TABLE: &str = "TidingsTable";
pub const SWEEP_FUNCTION: &str = "reminder-sweep";
pub const DIGEST_FUNCTION: &str = "notification-digest";
/// The function `OptInNeeded` events go to.
const OPT_IN_FUNCTION: &str = "opt-in";
pub const DEFAULT_DATA_PATH: &str = ".tidings/local.db";
/// The local deployment's own numbers (555-01xx: never a real subscriber).
pub const LOCAL_CALLER_ID: &str = "+12025550100";
pub const LOCAL_FAX_NUMBER: &str = "+12025550101";
/// The receipt rule's object key prefix, as `template.yaml` sets it.
pub const INBOUND_EMAIL_PREFIX: &str = "inbound/";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("local files: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    TokenKey(#[from] crate::auth::TokenKeyError),
    #[error("creating tables: {0}")]
    Tables(String),
    #[error("wiring: {0}")]
    Wiring(String),
    #[error("{function} failed: {error_type}: {message}")]
    Invocation { function: &'static str, error_type: String, message: String },
    #[error(transparent)]
    Store(#[from] tidings::store::StoreError),
    #[error("the clock is not manual: start with --clock manual")]
    ClockNotManual,
    #[error("the clock only moves forward")]
    ClockBackwards,
    #[error("the local runner is not listening yet: a received fax's media link needs its address")]
    NotListening,
}

/// A sender in place of a channel's local stand-in (tests script what the
/// provider answers).
#[derive(Clone)]
pub struct SenderOverride(pub Arc<dyn ChannelSender>);

impl std::fmt::Debug for SenderOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SenderOverride").field(&self.0.channel()).finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// The SQLite file; `None` keeps everything in memory.
    pub data: Option<PathBuf>,
    /// Start a manual clock at this time; `None` uses the system clock.
    pub manual_clock: Option<DateTime<Utc>>,
    pub bus: BusOptions,
    pub sweep: SweepConfig,
    /// The deployment's price table, as `template.yaml`'s parameters set it.
    pub prices: PriceTable,
    pub retry: RetryPolicy,
    /// Test hooks: an interceptor on the embedded store's client (fault
    /// injection), and senders in place of the channels' stand-ins.
    pub dynamo_interceptor: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
    pub senders: Vec<SenderOverride>,
}

/// What moving the manual clock did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Advance {
    pub now: DateTime<Utc>,
    /// Sweep ticks that ran (idle ticks are skipped: they find nothing).
    pub ticks: usize,
    pub published: usize,
    /// Staff emails sent: notifications at once, and digests.
    pub staff_emails: usize,
    pub skipped: usize,
    pub expired: usize,
}

/// The first multiple of `step` at or after `value`.
fn ceil_to_multiple(value: i64, step: i64) -> i64 {
    -((-value).div_euclid(step)) * step
}

pub struct LocalRuntime {
    pub dynamo: EmbeddedDynamo,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    manual_clock: Option<ManualClock>,
    pub bus: LocalBus,
    pub outbox: Outbox,
    pub records: Arc<RecordsService>,
    sweep: Arc<ReminderSweep>,
    pub sweep_every: Duration,
    digests: Arc<StaffDigests>,
    pub digest_every: Duration,
    pub token_key: TokenKey,
    pub credit: CreditService,
    pub outcomes: OutcomeService,
    pub voice: Arc<VoiceCall>,
    pub replies: Arc<ReplyService>,
    pub calls: LocalCalls,
    /// Signs the local fax provider's webhooks.
    pub fax_signer: LocalFaxSigner,
    /// The PDFs of faxes the local provider received, behind their links.
    pub fax_media: InboundMedia,
    /// Where the local runner listens, once `serve` binds.
    pub origin: LocalOrigin,
    /// Signs and checks the consent links of opt-in emails.
    consent_links: ConsentLinks,
    /// Signs and checks forms' access tokens.
    form_tokens: FormTokens,
    /// Local S3: inbound emails and replies' documents.
    pub blobs: Arc<FolderBlobs>,
    /// Removed with the runtime: local S3 of an in-memory run.
    _scratch: Option<tempfile::TempDir>,
}

impl LocalRuntime {
    pub async fn start(options: LocalOptions) -> Result<Self, LocalError> {
        let template = Template::deployed()?;
        let dynamo = EmbeddedDynamo::start(options.data.as_deref()).await?;
        let client = dynamo.client();
        template.table(TABLE)?.create(&client, TABLE).await.map_err(LocalError::Tables)?;
        let client = match &options.dynamo_interceptor {
            Some(interceptor) => aws_sdk_dynamodb::Client::from_conf(
                client.config().to_builder().interceptor(interceptor.clone()).build(),
            ),
            None => client,
        };
        let store = Store::new(client, TABLE);

        let manual_clock = options.manual_clock.map(ManualClock::starting_at);
        let clock: Arc<dyn Clock> = match &manual_clock {
            Some(manual) => Arc::new(manual.clone()),
            None => Arc::new(SystemClock),
        };
        let (outbox, token_key, consent_key) = match &options.data {
            Some(path) => (
                Outbox::persisted(path.with_extension("outbox.jsonl"))?,
                TokenKey::load_or_create(&path.with_extension("key"))?,
                TokenKey::load_or_create(&path.with_extension("consent.key"))?,
            ),
            None => (Outbox::default(), TokenKey::ephemeral(), TokenKey::ephemeral()),
        };
        // Opt-in emails link to the runner's own consent page, wherever it
        // binds.
        let origin = LocalOrigin::default();
        let consent_links = ConsentLinks::new(consent_key.bytes(), origin.0.clone())
            .map_err(|e| LocalError::Wiring(format!("consent links: {e}")))?;
        // As on AWS: forms' tokens signed with the links' key.
        let form_tokens = FormTokens::new(consent_key.bytes(), origin.0.clone())
            .map_err(|e| LocalError::Wiring(format!("form tokens: {e}")))?;

        let number = |n: &str| n.parse::<PhoneNumber>().map_err(|_| LocalError::Wiring(format!("number {n}")));
        let late_bus = LateBus::default();
        let credit =
            CreditService::new(store.clone(), Arc::new(late_bus.clone()), clock.clone(), options.prices.clone());
        let calls = LocalCalls::default();
        let fax_dir = options.data.as_ref().map(|path| path.with_extension("fax"));
        let senders: [(&str, Arc<dyn ChannelSender>); 4] = [
            ("deliver-email", Arc::new(LocalSink::new(Channel::Email, outbox.clone(), clock.clone()))),
            ("deliver-sms", Arc::new(LocalSink::new(Channel::Sms, outbox.clone(), clock.clone()))),
            (
                "deliver-voice",
                Arc::new(LocalVoiceSink::new(outbox.clone(), calls.clone(), clock.clone(), LOCAL_CALLER_ID.into())),
            ),
            (
                "deliver-fax",
                Arc::new(FaxSender::new(
                    Arc::new(LocalFaxProvider::new(outbox.clone(), fax_dir, clock.clone())),
                    number(LOCAL_FAX_NUMBER)?,
                )),
            ),
        ];
        // Local S3: a folder beside the database (a scratch folder when the
        // database is in memory).
        let (blobs_dir, scratch) = match &options.data {
            Some(path) => (path.with_extension("blobs"), None),
            None => {
                let scratch = tempfile::tempdir()?;
                (scratch.path().to_owned(), Some(scratch))
            }
        };
        let blobs = Arc::new(FolderBlobs::new(blobs_dir));
        let mut functions: HashMap<String, Arc<dyn LocalFunction>> = HashMap::new();
        for (name, stand_in) in senders {
            let sender =
                options.senders.iter().find(|o| o.0.channel() == stand_in.channel()).map_or(stand_in, |o| o.0.clone());
            let config =
                DeliveryConfig { lease: options.sweep.lease, prices: options.prices.clone(), retry: options.retry };
            let carries_files = matches!(sender.channel(), Channel::Email | Channel::Fax);
            let mut delivery = Delivery::new(store.clone(), sender, clock.clone(), credit.clone(), config);
            if carries_files {
                delivery = delivery.with_attachments(blobs.clone());
            }
            functions.insert(name.to_owned(), Arc::new(DeliveryFunction(Arc::new(delivery))));
        }
        let opt_in = OptInService::new(store.clone(), clock.clone(), options.sweep.sending_window);
        functions.insert(OPT_IN_FUNCTION.to_owned(), Arc::new(OptInFunction(Arc::new(opt_in))));
        let bus = LocalBus::new(template.routes.clone(), functions, clock.clone(), options.bus)
            .map_err(LocalError::Wiring)?;
        late_bus.set(bus.clone());

        let schedule = |function: &str| {
            template
                .schedules
                .iter()
                .find(|s| s.function == function)
                .map(|s| s.every)
                .ok_or_else(|| LocalError::Wiring(format!("template.yaml schedules no {function}")))
        };
        let digests = StaffDigests::new(
            store.clone(),
            Arc::new(LocalStaffMailer::new(outbox.clone(), clock.clone())),
            Arc::new(bus.clone()),
            clock.clone(),
        );
        let templates = Arc::new(Templates::default());
        let outcomes = OutcomeService::new(store.clone(), clock.clone(), credit.clone());
        let records =
            Arc::new(RecordsService::new(store.clone(), clock.clone(), templates.clone(), Arc::new(bus.clone())));
        let voice = Arc::new(VoiceCall::new(
            store.clone(),
            records.clone(),
            clock.clone(),
            options.prices,
            number(LOCAL_CALLER_ID)?,
            credit.clone(),
            Arc::new(bus.clone()),
        ));
        let inbound = InboundConfig {
            reply_domain: Some(LOCAL_REPLY_DOMAIN.into()),
            inbound_email_prefix: INBOUND_EMAIL_PREFIX.into(),
            attachments: AttachmentLimits::default(),
        };
        let replies = Arc::new(ReplyService::new(
            store.clone(),
            records.clone(),
            Arc::new(bus.clone()),
            clock.clone(),
            blobs.clone(),
            inbound,
        ));
        let sweep =
            ReminderSweep::new(store.clone(), Arc::new(bus.clone()), templates, clock.clone(), options.sweep.clone())
                .applying_reports(outcomes.clone())
                .ending_calls(Arc::new(LocalCallControl::new(calls.clone(), voice.clone())))
                .linking_consent(consent_links.clone());
        Ok(Self {
            dynamo,
            records,
            outcomes,
            credit,
            voice,
            replies,
            calls,
            fax_signer: LocalFaxSigner::default(),
            fax_media: InboundMedia::default(),
            blobs,
            _scratch: scratch,
            origin,
            consent_links,
            form_tokens,
            store,
            clock,
            manual_clock,
            bus,
            outbox,
            sweep: Arc::new(sweep),
            sweep_every: schedule(SWEEP_FUNCTION)?,
            digests: Arc::new(digests),
            digest_every: schedule(DIGEST_FUNCTION)?,
            token_key,
        })
    }

    /// The API's state over this runtime, as the `api` function builds it.
    pub fn api_state(&self) -> Result<ApiState, LocalError> {
        let verifier = TelnyxWebhookVerifier::new(&self.fax_signer.public_key_base64())
            .map_err(|e| LocalError::Wiring(format!("fax webhook key: {e}")))?;
        Ok(ApiState {
            records: self.records.clone(),
            credit: self.credit.clone(),
            outcomes: self.outcomes.clone(),
            replies: self.replies.clone(),
            consent: Arc::new(ConsentService::new(self.store.clone(), self.clock.clone(), self.consent_links.clone())),
            staff: Arc::new(StaffService::new(self.store.clone(), self.clock.clone())),
            ad_hoc: Arc::new(AdHocService::new(self.store.clone(), self.clock.clone(), self.blobs.clone())),
            forms: Arc::new(FormService::new(self.store.clone(), self.clock.clone(), self.form_tokens.clone())),
            store: self.store.clone(),
            clock: self.clock.clone(),
            fax_webhooks: vec![FaxWebhook {
                verifier: Arc::new(verifier),
                media: Arc::new(LocalFaxMedia(self.origin.clone())),
            }],
        })
    }

    /// One SES notification through `delivery-status`'s handler, wrapped
    /// as its SNS subscription delivers it.
    pub async fn deliver_ses_notification(
        &self,
        notification: &serde_json::Value,
    ) -> Result<tidings_delivery_status::StatusReport, LocalError> {
        let envelope = serde_json::json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:local:000000000000:ses-events:local",
            "Sns": {
                "Type": "Notification",
                "MessageId": uuid::Uuid::new_v4().to_string(),
                "TopicArn": "arn:aws:sns:local:000000000000:ses-events",
                "Message": notification.to_string(),
                "Timestamp": self.clock.now(),
                "SignatureVersion": "2",
                "Signature": "",
                "SigningCertUrl": "",
                "UnsubscribeUrl": "",
                "MessageAttributes": {},
            },
        }]});
        self.invoke_delivery_status(envelope).await
    }

    /// SNS's SMS delivery status log entry about a text, as its CloudWatch
    /// Logs subscription delivers it (gzipped and base64 encoded).
    pub async fn deliver_sms_log(
        &self,
        entry: &serde_json::Value,
    ) -> Result<tidings_delivery_status::StatusReport, LocalError> {
        use base64::Engine as _;
        use std::io::Write as _;
        let data = serde_json::json!({
            "owner": "000000000000",
            "logGroup": "sns/local/000000000000/DirectPublishToPhoneNumber",
            "logStream": "local",
            "subscriptionFilters": ["delivery-status"],
            "messageType": "DATA_MESSAGE",
            "logEvents": [{
                "id": uuid::Uuid::new_v4().simple().to_string(),
                "timestamp": self.clock.now().timestamp_millis(),
                "message": entry.to_string(),
            }],
        });
        // As CloudWatch Logs sends it: gzipped JSON, standard base64 (the
        // events crate's own serialiser leaves off the padding its
        // deserialiser requires, so it cannot build this).
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(data.to_string().as_bytes())?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(gzip.finish()?);
        self.invoke_delivery_status(serde_json::json!({"awslogs": {"data": encoded}})).await
    }

    /// A text from `from` to `to`, as AWS End User Messaging publishes it to
    /// the SNS topic `ingest-replies` is subscribed to.
    pub async fn receive_sms(
        &self,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<tidings_ingest_replies::IngestReport, LocalError> {
        let inbound = serde_json::json!({
            "originationNumber": from,
            "destinationNumber": to,
            "messageKeyword": "KEYWORD_000000000000",
            "messageBody": body,
            "inboundMessageId": uuid::Uuid::new_v4().to_string(),
            "previousPublishedMessageId": null,
        });
        let envelope = serde_json::json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:local:000000000000:inbound-sms:local",
            "Sns": {
                "Type": "Notification",
                "MessageId": uuid::Uuid::new_v4().to_string(),
                "TopicArn": "arn:aws:sns:local:000000000000:inbound-sms",
                "Message": inbound.to_string(),
                "Timestamp": self.clock.now(),
                "SignatureVersion": "2",
                "Signature": "",
                "SigningCertUrl": "",
                "UnsubscribeUrl": "",
                "MessageAttributes": {},
            },
        }]});
        self.invoke_ingest_replies(envelope).await
    }

    /// An email to the reply domain, as SES receives it: the raw message
    /// stored in the bucket by the receipt rule's S3 action, then
    /// `ingest-replies` invoked by its Lambda action with the headers'
    /// envelope (recipients from the message's To and Cc).
    pub async fn receive_email(&self, raw: Vec<u8>) -> Result<tidings_ingest_replies::IngestReport, LocalError> {
        let message = mail_parser::MessageParser::default()
            .parse_headers(&raw)
            .ok_or_else(|| LocalError::Wiring("not an RFC 5322 message".into()))?;
        let recipients: Vec<String> = [message.to(), message.cc()]
            .into_iter()
            .flatten()
            .flat_map(|list| list.iter())
            .filter_map(|address| address.address().map(str::to_owned))
            .collect();
        if recipients.is_empty() {
            return Err(LocalError::Wiring("the message has no To or Cc address".into()));
        }
        // SES's message ids are letters and digits.
        let message_id = uuid::Uuid::new_v4().simple().to_string();
        let key = BlobKey::inbound_email(INBOUND_EMAIL_PREFIX, &message_id)
            .map_err(|e| LocalError::Wiring(format!("inbound key: {e}")))?;
        self.blobs.put(&key, raw, "message/rfc822").await.map_err(|e| LocalError::Wiring(e.to_string()))?;
        let now = self.clock.now();
        let envelope = serde_json::json!({"Records": [{
            "eventSource": "aws:ses",
            "eventVersion": "1.0",
            "ses": {
                "mail": {"timestamp": now, "source": "local", "messageId": message_id, "destination": recipients},
                "receipt": {
                    "timestamp": now,
                    "processingTimeMillis": 1,
                    "recipients": recipients,
                    "spamVerdict": {"status": "PASS"},
                    "virusVerdict": {"status": "PASS"},
                    "spfVerdict": {"status": "PASS"},
                    "dkimVerdict": {"status": "PASS"},
                    "dmarcVerdict": {"status": "PASS"},
                    "action": {"type": "Lambda", "functionArn": "arn:aws:lambda:local:000000000000:function:ingest-replies", "invocationType": "Event"},
                },
            },
        }]});
        self.invoke_ingest_replies(envelope).await
    }

    /// `ingest-replies` on an event as its trigger sends it.
    pub async fn invoke_ingest_replies(
        &self,
        envelope: serde_json::Value,
    ) -> Result<tidings_ingest_replies::IngestReport, LocalError> {
        let report = tidings_ingest_replies::handler(&self.replies, LambdaEvent::new(envelope, Context::default()))
            .await
            .map_err(|d| LocalError::Invocation {
                function: "ingest-replies",
                error_type: d.error_type,
                message: d.error_message,
            });
        self.bus.idle().await;
        report
    }

    /// `delivery-status` on an event as its trigger sends it, deserialised
    /// as the Lambda runtime does.
    async fn invoke_delivery_status(
        &self,
        envelope: serde_json::Value,
    ) -> Result<tidings_delivery_status::StatusReport, LocalError> {
        let event = serde_json::from_value(envelope).map_err(|e| LocalError::Wiring(format!("event envelope: {e}")))?;
        tidings_delivery_status::handler(&self.outcomes, LambdaEvent::new(event, Context::default())).await.map_err(
            |d| LocalError::Invocation {
                function: "delivery-status",
                error_type: d.error_type,
                message: d.error_message,
            },
        )
    }

    pub fn is_manual(&self) -> bool {
        self.manual_clock.is_some()
    }

    /// One scheduled invocation of `reminder-sweep`, through its Lambda
    /// handler, and everything it set off.
    pub async fn run_sweep(&self) -> Result<SweepReport, LocalError> {
        let report = self.sweep_without_waiting().await;
        self.bus.idle().await;
        report
    }

    /// One invocation of `reminder-sweep`, returning once it has handed its
    /// messages over (their deliveries may still be running).
    pub async fn sweep_without_waiting(&self) -> Result<SweepReport, LocalError> {
        // The schedule's Input, as template.yaml writes it.
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let invocation = tidings_reminder_sweep::handler(&self.sweep, event);
        INVOKED_FUNCTION.scope(SWEEP_FUNCTION.to_owned(), invocation).await.map_err(|d| LocalError::Invocation {
            function: SWEEP_FUNCTION,
            error_type: d.error_type,
            message: d.error_message,
        })
    }

    /// One scheduled invocation of `notification-digest`, through its Lambda
    /// handler.
    pub async fn run_digests(&self) -> Result<tidings::services::DigestReport, LocalError> {
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let report = tidings_notification_digest::handler(&self.digests, event).await.map_err(|d| {
            LocalError::Invocation { function: DIGEST_FUNCTION, error_type: d.error_type, message: d.error_message }
        });
        self.bus.idle().await;
        report
    }

    /// Moves the manual clock to `target`, running each schedule tick on the
    /// way that finds something due, and returns when all resulting work is
    /// done. Ticks with nothing due are skipped: they would find nothing.
    /// The digest function runs when its work falls due (on AWS, within
    /// its minute's schedule).
    pub async fn advance_to(&self, target: DateTime<Utc>) -> Result<Advance, LocalError> {
        let manual = self.manual_clock.as_ref().ok_or(LocalError::ClockNotManual)?;
        if target < manual.now() {
            return Err(LocalError::ClockBackwards);
        }
        let every = i64::try_from(self.sweep_every.as_millis()).unwrap_or(60_000).max(1);
        let mut advance = Advance::default();
        // What the API's last requests put on the bus (an opt-in request
        // being planned) lands before the next due work is looked for.
        self.bus.idle().await;
        loop {
            let now = manual.now().timestamp_millis();
            let first_tick_after_now = (now.div_euclid(every) + 1) * every;
            let next_tick = match self.store.next_due().await? {
                Some(due) => first_tick_after_now.max(ceil_to_multiple(due.timestamp_millis(), every)),
                None => i64::MAX,
            };
            let staff_tick = match self.store.next_staff_due().await? {
                Some(due) => due.timestamp_millis().max(now),
                None => i64::MAX,
            };
            let tick_ms = next_tick.min(staff_tick);
            if tick_ms > target.timestamp_millis() {
                break;
            }
            let tick = DateTime::from_timestamp_millis(tick_ms).ok_or(LocalError::ClockBackwards)?;
            manual.set(tick);
            if tick_ms == next_tick {
                let report = self.run_sweep().await?;
                advance.ticks += 1;
                advance.published += report.published;
                advance.skipped += report.skipped;
                advance.expired += report.expired;
            }
            if tick_ms == staff_tick {
                let report = self.run_digests().await?;
                advance.staff_emails += report.emailed_at_once + report.digests;
            }
        }
        manual.set(target);
        advance.now = target;
        Ok(advance)
    }

    /// Sets the manual clock without running the ticks in between, as after
    /// an outage of the schedule.
    pub fn advance_clock_without_ticks(&self, target: DateTime<Utc>) -> Result<(), LocalError> {
        let manual = self.manual_clock.as_ref().ok_or(LocalError::ClockNotManual)?;
        if target < manual.now() {
            return Err(LocalError::ClockBackwards);
        }
        manual.set(target);
        Ok(())
    }

    /// Fires the sweep and the digest function at their rates on the
    /// system clock, for `serve` without a manual clock.
    pub async fn run_schedules(self: Arc<Self>) {
        tokio::join!(
            every(self.sweep_every, SWEEP_FUNCTION, || self.run_sweep()),
            every(self.digest_every, DIGEST_FUNCTION, || self.run_digests()),
        );
    }
}

/// Runs `invoke` every `period`, as a schedule does, logging failures.
async fn every<T, F: std::future::Future<Output = Result<T, LocalError>>>(
    period: Duration,
    function: &str,
    invoke: impl Fn() -> F,
) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(err) = invoke().await {
            tracing::warn!(function, error = %err, "scheduled invocation failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ceil_to_multiple;

    #[test]
    fn ticks_round_up_to_the_schedule_grid() {
        assert_eq!(ceil_to_multiple(120_000, 60_000), 120_000);
        assert_eq!(ceil_to_multiple(120_001, 60_000), 180_000);
        assert_eq!(ceil_to_multiple(-1, 60_000), 0);
    }
}
