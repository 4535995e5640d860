//! What the services' unit tests share: a clock that stands still, and a
//! practice with a client and an appointment to message about.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde::de::DeserializeOwned;

use crate::events::{BusEvent, EventPublisher, PublishError};

use crate::domain::{
    AccountId, AccountSettings, Appointment, AppointmentStatus, Channel, Clock, Language, Recipient, RecipientKind,
};

/// The events a service published.
#[derive(Default)]
pub(crate) struct RecordedBus(pub(crate) Mutex<Vec<BusEvent>>);

impl RecordedBus {
    /// The published events of one type, read back.
    pub(crate) fn of<T: DeserializeOwned>(&self, detail_type: &str) -> Vec<T> {
        let events = self.0.lock().unwrap();
        let detail = events.iter().filter(|e| e.detail_type == detail_type).map(|e| e.detail.clone());
        detail.map(|d| serde_json::from_value(d).unwrap()).collect()
    }
}

#[async_trait]
impl EventPublisher for RecordedBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), PublishError> {
        self.0.lock().unwrap().extend(events);
        Ok(())
    }
}

/// The time a test's clock shows.
pub(crate) struct FixedClock(pub(crate) DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Monday 4 March 2030, noon UTC: when appointments are booked.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 4, 12, 0, 0).unwrap()
}

/// When the tests' appointments start: two days after [`t0`], mid-afternoon.
pub(crate) fn start() -> DateTime<Utc> {
    t0() + Duration::days(2) + Duration::hours(3)
}

pub(crate) fn account() -> AccountId {
    "acct".parse().unwrap()
}

/// A practice in UTC with messaging on, reminding a day before, and
/// `changes` to those settings (fields as the API takes them).
pub(crate) fn settings(changes: serde_json::Value) -> AccountSettings {
    let mut settings = serde_json::json!({
        "practice_name": "Riverside Clinic",
        "practice_phone": "+12025550143",
        "time_zone": "UTC",
        "messaging_enabled": true,
        "appointment_reminders": {"enabled": true, "offsets_minutes": [1440]},
    });
    if let (Some(settings), Some(changes)) = (settings.as_object_mut(), changes.as_object()) {
        settings.extend(changes.clone());
    }
    serde_json::from_value(settings).unwrap()
}

/// The client's number.
pub(crate) const PHONE: &str = "+12025550101";

/// A client reached by SMS.
pub(crate) fn sms_client(id: &str) -> Recipient {
    Recipient {
        id: id.parse().unwrap(),
        kind: RecipientKind::Client,
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        channel: Channel::Sms,
        email: None,
        phone: Some(PHONE.parse().unwrap()),
        fax: None,
        time_zone: None,
        language: Language::english(),
    }
}

/// A booked appointment of `recipient`'s.
pub(crate) fn booked(id: &str, recipient: &str, starts_at: DateTime<Utc>) -> Appointment {
    Appointment {
        id: id.parse().unwrap(),
        recipient_id: recipient.parse().unwrap(),
        starts_at,
        duration_minutes: 30,
        provider: "Dr Ortiz".into(),
        location: "Room 2".into(),
        status: AppointmentStatus::Booked,
        appointment_type: None,
        confirmed: false,
    }
}
