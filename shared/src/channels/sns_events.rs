//! What SNS logs about a text after it went: its SMS delivery status log
//! entries (CloudWatch Logs groups `sns/REGION/ACCOUNT/DirectPublishToPhoneNumber`
//! and `…/Failure`), in the shape SNS documents.

use serde::Deserialize;

use crate::domain::{NotificationKind, StatusReason};

#[derive(Debug, Clone, Deserialize)]
pub struct SmsDeliveryLog {
    pub notification: SmsLogNotification,
    pub delivery: SmsLogDelivery,
    /// `SUCCESS` or `FAILURE`.
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsLogNotification {
    /// The id Publish returned.
    pub message_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsLogDelivery {
    /// The carrier's answer in words ("Phone is currently unreachable/unavailable").
    #[serde(default)]
    pub provider_response: String,
}

/// What a log entry means for the text it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsOutcome {
    Delivered,
    /// `code` is a short name of the carrier's answer, never its free text.
    Failed {
        reason: StatusReason,
        kind: NotificationKind,
        code: &'static str,
    },
}

impl SmsDeliveryLog {
    pub fn outcome(&self) -> SmsOutcome {
        if self.status == "SUCCESS" {
            return SmsOutcome::Delivered;
        }
        let response = self.delivery.provider_response.to_ascii_lowercase();
        let (reason, kind, code) = if response.contains("opted out") {
            (StatusReason::OptedOut, NotificationKind::OptedOut, "opted_out")
        } else if response.contains("invalid") || response.contains("not a valid") {
            (StatusReason::BadNumber, NotificationKind::BadNumber, "invalid_number")
        } else if response.contains("unreachable")
            || response.contains("unavailable")
            || response.contains("reach phone")
        {
            (StatusReason::Unreachable, NotificationKind::BadNumber, "unreachable")
        } else if response.contains("blocked") {
            (StatusReason::Unreachable, NotificationKind::BadNumber, "blocked")
        } else {
            (StatusReason::TransmissionFailed, NotificationKind::DeliveryFailed, "carrier_error")
        };
        SmsOutcome::Failed { reason, kind, code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: &str, response: &str) -> SmsDeliveryLog {
        serde_json::from_value(serde_json::json!({
            "notification": {"messageId": "34d9b400-c6dd-5444-820d-fbeb0f1f54cf", "timestamp": "2026-12-01 14:00:34.558"},
            "delivery": {
                "phoneCarrier": "Carrier", "mnc": 270, "numberOfMessageParts": 1, "destination": "+12025550101",
                "priceInUSD": 0.00645, "smsType": "Transactional", "mcc": 310,
                "providerResponse": response, "dwellTimeMs": 599
            },
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn carrier_answers_map_to_reasons_and_short_codes() {
        assert_eq!(entry("SUCCESS", "Message has been accepted by phone carrier").outcome(), SmsOutcome::Delivered);
        let failed = |response| match entry("FAILURE", response).outcome() {
            SmsOutcome::Failed { reason, code, .. } => (reason, code),
            SmsOutcome::Delivered => panic!("delivered"),
        };
        assert_eq!(failed("Phone is currently unreachable/unavailable"), (StatusReason::Unreachable, "unreachable"));
        assert_eq!(failed("Phone number is opted out"), (StatusReason::OptedOut, "opted_out"));
        assert_eq!(failed("Invalid phone number"), (StatusReason::BadNumber, "invalid_number"));
        assert_eq!(failed("Phone carrier has blocked this message"), (StatusReason::Unreachable, "blocked"));
        assert_eq!(failed("Unknown error"), (StatusReason::TransmissionFailed, "carrier_error"));
    }
}
