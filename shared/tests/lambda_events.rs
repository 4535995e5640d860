//! The events the functions receive, as AWS delivers them (JSON fixtures).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use tidings::domain::Channel;
use tidings::events::{BusEvent, MessageReady, SOURCE};

#[test]
fn an_eventbridge_message_ready_event_deserialises_into_its_detail() {
    let event: EventBridgeEvent<MessageReady> =
        serde_json::from_str(include_str!("fixtures/message_ready.json")).unwrap();
    assert_eq!(event.source, SOURCE);
    assert_eq!(event.detail_type, MessageReady::DETAIL_TYPE);
    assert_eq!(event.detail.channel, Channel::Email);
    assert_eq!(event.detail.account_id.as_str(), "riverside");
    assert_eq!(event.detail.message_id.as_str(), "a-1~reminder~1440~1796223600");
}

#[test]
fn what_the_bus_publishes_is_what_the_rule_delivers() {
    let event: EventBridgeEvent<MessageReady> =
        serde_json::from_str(include_str!("fixtures/message_ready.json")).unwrap();
    let published = BusEvent::from(&event.detail);
    assert_eq!(published.detail_type, "MessageReady");
    assert_eq!(published.detail["channel"], "email");
    let round_trip: MessageReady = serde_json::from_value(published.detail).unwrap();
    assert_eq!(round_trip, event.detail);
}

#[test]
fn an_event_with_a_malformed_id_is_refused() {
    let text = include_str!("fixtures/message_ready.json").replace("\"riverside\"", "\"river side\"");
    assert!(serde_json::from_str::<EventBridgeEvent<MessageReady>>(&text).is_err());
}
