//! `PUT /v1/appointments/{id}`: the bookings reminders and notices are
//! scheduled from.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use tidings::domain::text;
use tidings::domain::{Appointment, AppointmentId, AppointmentStatus, RecipientId};

use crate::auth::AuthenticatedAccount;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{parse_id, ApiJson};
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentBody {
    #[schema(inline)]
    pub recipient_id: RecipientId,
    /// RFC 3339 with an offset, e.g. `2026-12-03T15:30:00-05:00`.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: DateTime<FixedOffset>,
    pub duration_minutes: u32,
    #[schema(schema_with = text::schema)]
    pub provider: String,
    #[schema(schema_with = text::schema)]
    pub location: String,
    pub status: AppointmentStatus,
    /// The practice's kind of appointment; chooses reminder offsets, never shown.
    #[schema(schema_with = text::schema)]
    pub appointment_type: Option<String>,
    /// The client has confirmed. Default false.
    #[serde(default)]
    pub confirmed: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppointmentView {
    pub id: String,
    pub status: AppointmentStatus,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: DateTime<Utc>,
    /// Reminders newly scheduled by this upsert.
    pub reminders_scheduled: usize,
    /// Reminders withdrawn by this upsert (a reschedule or cancellation).
    pub reminders_withdrawn: usize,
    /// When the appointment's notice goes, if notices are on and one waits.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub notice_due_at: Option<DateTime<Utc>>,
}

#[utoipa::path(put, path = "/v1/appointments/{id}", tag = "routes", request_body = AppointmentBody,
    params(("id" = inline(AppointmentId), Path, description = "The practice app's id of the appointment")),
    responses(
        (status = 200, body = AppointmentView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_appointment(
    State(state): State<ApiState>,
    AuthenticatedAccount(account): AuthenticatedAccount,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AppointmentBody>,
) -> Result<Json<AppointmentView>, ApiError> {
    let id: AppointmentId = parse_id("appointment id", &id)?;
    let appointment = Appointment {
        id,
        recipient_id: body.recipient_id,
        starts_at: body.starts_at.with_timezone(&Utc),
        duration_minutes: body.duration_minutes,
        provider: body.provider,
        location: body.location,
        status: body.status,
        appointment_type: body.appointment_type,
        confirmed: body.confirmed,
    };
    let changes = state.records.put_appointment(&account, &appointment).await?;
    Ok(Json(AppointmentView {
        id: appointment.id.into(),
        status: appointment.status,
        starts_at: appointment.starts_at,
        reminders_scheduled: changes.scheduled.len(),
        reminders_withdrawn: changes.withdrawn,
        notice_due_at: changes.notice_due_at,
    }))
}
