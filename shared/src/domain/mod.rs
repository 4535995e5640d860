//! Pure domain: no AWS or HTTP types here.

pub mod ad_hoc;
pub mod appointment;
pub mod clock;
pub mod consent;
pub mod consent_link;
pub mod contact;
pub mod copies;
pub mod credit;
pub mod digest;
pub mod form;
pub mod ids;
pub mod invoice;
pub mod keywords;
pub mod message;
pub mod notification;
pub mod recipient;
pub mod replies;
pub mod report;
pub mod schedule;
pub mod send_rate;
pub mod settings;
pub mod sms;
pub mod staff;
pub mod template;
pub mod text;

pub use appointment::{Appointment, AppointmentStatus, NoticeChange, NoticeState, PlannedReminder};
pub use clock::{Clock, SystemClock};
pub use consent::{
    Consent, ConsentEvidence, ConsentMethod, ConsentState, InvalidOptIn, OptInRequestText, OptInSettings,
};
pub use consent_link::{ConsentLinkClaims, ConsentLinkError, ConsentLinks, PublicOrigin};
pub use contact::{ContactError, EmailAddress, PhoneNumber, Region, TimeZone};
pub use credit::{
    AutoTopUp, CreditSettings, DestinationPrices, LedgerEntry, LedgerKind, PriceOverride, PriceOverrides, PriceTable,
    PricingError, PurchaseAmount,
};
pub use ids::{
    AccountId, AppointmentId, FormId, InvalidId, InvoiceId, MessageId, NotificationId, RecipientId, ReplyId, UserId,
};
pub use invoice::{Currency, Invoice, InvoiceMessageSettings, InvoiceStatus};
pub use keywords::{interpret_reply, ReplyMeaning, REPLY_READ_CHARS};
pub use message::{
    Attachment, Authored, CallRecord, Letterhead, Message, MessageKind, MessageStatus, RenderedContent, StatusReason,
    StoredAttachment,
};
pub use notification::{MessageNotice, Notification, NotificationKind};
pub use recipient::{Address, Channel, Language, Recipient, RecipientKind};
pub use replies::{
    keyword_answer, meaning_on, reply_action, Answering, Reply, ReplyAction, ReplyAttachment, ReplyRoute, ReplySettings,
};
pub use report::{ProviderReport, ReportedOutcome};
pub use schedule::{Placement, QuietHours, SendingWindow};
pub use send_rate::{HoldTooLong, SendAllowance, SendRates, LONGEST_SEND_HOLD};
pub use settings::{AccountSettings, AppointmentNoticeSettings, AppointmentReminderSettings, MessageCaps, Senders};
pub use sms::{sms_length, SmsEncoding, SmsLength};
pub use staff::{Frequency, NotificationPreferences, PracticeUser, Severity};
pub use template::{AppointmentFields, InvoiceFields, NoticeFields, TemplateError, TemplateSource, Templates};
pub use text::InvalidText;
