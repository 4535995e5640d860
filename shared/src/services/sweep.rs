//! The reminder sweep: finds due messages, claims each exactly once, renders
//! it and hands it to its channel's delivery function over the bus.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use tracing::Instrument;

use crate::channels::{CallControl, CallEnding};
use crate::domain::appointment::ReminderTiming;
use crate::domain::consent::{answered_by, MAX_EVIDENCE_CHARS};
use crate::domain::copies::{CopyOf, NoticeCopy};
use crate::domain::credit::SWEEP_PERIOD_MINUTES;
use crate::domain::invoice::format_amount;
use crate::domain::template::{html_of, long_date, FormFields};
use crate::domain::{
    AccountId, AccountSettings, Address, AppointmentFields, AppointmentId, AppointmentStatus, Channel, Clock, Consent,
    ConsentEvidence, ConsentLinkClaims, ConsentLinks, ConsentState, Invoice, InvoiceFields, InvoiceStatus, Letterhead,
    Message, MessageId, MessageKind, MessageNotice, MessageStatus, NoticeChange, NoticeFields, NoticeState,
    Notification, NotificationKind, OptInRequestText, Recipient, RenderedContent, SendAllowance, SendRates,
    SendingWindow, StatusReason, TemplateError, Templates, TimeZone,
};
use crate::events::{BusEvent, EventPublisher, MessageReady, OptInNeeded, PublishError};
use crate::services::outcomes::OutcomeService;
use crate::store::keys::DueShards;
use crate::store::ports::SweepStore;
use crate::store::{
    CapSlot, ClaimedMessage, ContextKeys, DueCursor, DueMessage, RenderContext, Rendered, Settlement, StoreError,
};

/// Parked reports are rare (a report that beat its message's settlement or
/// the index's lag); a run applies at most this many.
const REPORTS_PER_RUN: i32 = 100;
/// Messages stored per `store_rendered` call (a transaction of up to 100
/// writes: each message and its reply route).
const TRANSACTION_MESSAGES: usize = 50;
/// Calls at their deadline a run ends at most (the rest wait a minute).
const CALLS_PER_RUN: i32 = 100;
/// How long after its deadline a call is still asked to end.
const CALL_END_ATTEMPTS_MINUTES: i64 = 10;

#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// How long a claim holds before another sweep may take the message.
    /// Longer than a delivery function's timeout, so that a slow send is
    /// never doubled.
    pub lease: Duration,
    /// How long one invocation goes on taking rounds of due work: no round
    /// starts after it (so it lies a round's length inside the function's
    /// timeout). Zero: one round a run.
    pub time_budget: std::time::Duration,
    /// The most messages one round takes, shared between accounts.
    pub round_size: usize,
    /// Messages read per shard per page.
    pub page_size: i32,
    /// Requests a round has in flight at once: reads, rendering writes,
    /// publishing.
    pub concurrency: usize,
    /// The most due keys one round reads looking for every account's work
    /// (see [`ReminderSweep::select_due`]).
    pub scan_limit: usize,
    /// The deployment's widest sending hours: an account's quiet hours are
    /// narrowed to them however they were saved.
    pub sending_window: SendingWindow,
    /// What each channel's provider takes: a run hands over at most a
    /// period's worth of each.
    pub send_rates: SendRates,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            lease: Duration::minutes(5),
            // The function's timeout is 55 s; a round of 2,000 takes a few.
            time_budget: std::time::Duration::from_secs(40),
            round_size: 2_000,
            page_size: 100,
            concurrency: 16,
            scan_limit: 20_000,
            sending_window: SendingWindow::default(),
            send_rates: SendRates::default(),
        }
    }
}

/// The sweep reads on until the due work it found would let no account
/// fill more than this fraction of a round (`round_size / 10`).
const ACCOUNT_SHARE_DIVISOR: usize = 10;
/// Messages whose records one BatchGetItem reads (about four keys each).
const CONTEXTS_PER_READ: usize = 20;
/// BatchGetItem's limit.
const MESSAGES_PER_READ: usize = 100;

/// What one sweep did: the figures only, no PHI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub published: usize,
    pub skipped: usize,
    pub expired: usize,
    pub withdrawn: usize,
    /// Messages another sweep claimed first.
    pub taken_by_others: usize,
    /// Messages that reached quiet hours and wait for them to end.
    pub postponed: usize,
    /// Sends that never settled, ended by the recovery pass.
    pub recovered: usize,
    /// Provider reports applied once their message could be found.
    pub reports_applied: usize,
    /// Calls asked to end at their length cap.
    pub calls_ended: usize,
    /// Messages left due, unclaimed, because their channel's rate for this
    /// period was spent.
    pub deferred_for_rate: usize,
    /// Rounds of due work taken.
    pub rounds: usize,
    /// The largest share of a round one account took, in per mille.
    pub busiest_account_permille: usize,
    /// Messages (or shard pages) a store error left for later: a message's
    /// claim is written with what it says, so one that failed stays due,
    /// or is taken again when its lease ends.
    pub errors: usize,
    /// Whether due work was left for the next run.
    pub more_due: bool,
}

impl SweepReport {
    /// Messages the run moved on (handed over, ended, held or recovered).
    fn moved(&self) -> usize {
        self.published + self.skipped + self.expired + self.withdrawn + self.postponed + self.recovered
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Claimed messages whose events did not go out fall due again when
    /// their lease ends.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl SweepError {
    pub fn is_retryable(&self) -> bool {
        match self {
            SweepError::Store(err) => err.is_retryable(),
            SweepError::Publish(_) => true,
        }
    }
}

enum Handled {
    Ready(MessageReady),
    /// Rendered: ready once what it says is stored (with its claim), and
    /// what comes after is done.
    Render(Box<ToStore>),
    /// Held for the end of quiet hours.
    Postponed,
    /// Held until the recipient opts in: their request is announced.
    AwaitingOptIn(OptInNeeded),
    Ended(MessageStatus),
    TakenByOther,
    /// A send that never settled, ended as of unknown outcome.
    Recovered,
}

/// A rendered message and what follows its storing.
struct ToStore {
    rendered: Rendered,
    after: AfterStoring,
}

enum AfterStoring {
    Nothing,
    /// A notice: its contacts' copies, then what it told.
    Told(Recipient, Box<Told>),
    /// An opt-in request: the recipient's consent is now `requested`.
    Requested(Consent),
}

pub struct ReminderSweep {
    store: Arc<dyn SweepStore>,
    publisher: Arc<dyn EventPublisher>,
    templates: Arc<Templates>,
    clock: Arc<dyn Clock>,
    config: SweepConfig,
    /// Applies the provider reports parked for want of their message.
    reports: Option<OutcomeService>,
    /// Ends calls that reach their deadline.
    calls: Option<Arc<dyn CallControl>>,
    /// Signs the Confirm links of email opt-in requests.
    consent_links: Option<ConsentLinks>,
}

impl ReminderSweep {
    pub fn new(
        store: impl SweepStore + 'static,
        publisher: Arc<dyn EventPublisher>,
        templates: Arc<Templates>,
        clock: Arc<dyn Clock>,
        config: SweepConfig,
    ) -> Self {
        Self {
            store: Arc::new(store),
            publisher,
            templates,
            clock,
            config,
            reports: None,
            calls: None,
            consent_links: None,
        }
    }

    /// Also ends calls in progress at their deadline, a bounded number each
    /// run.
    pub fn ending_calls(mut self, calls: Arc<dyn CallControl>) -> Self {
        self.calls = Some(calls);
        self
    }

    /// Renders email opt-in requests with a Confirm link signed by `links`
    /// (without, an email request fails to render).
    pub fn linking_consent(mut self, links: ConsentLinks) -> Self {
        self.consent_links = Some(links);
        self
    }

    /// Also applies parked provider reports, a bounded number each run.
    pub fn applying_reports(mut self, outcomes: OutcomeService) -> Self {
        self.reports = Some(outcomes);
        self
    }

    /// Takes rounds of the due work [`Self::select_due`] chooses until
    /// none is left or the time budget is spent. A round's messages leave
    /// the due range as they are claimed (their `due_ms` becomes the
    /// lease's end), so the next round, or another run, sees only work
    /// nobody holds. A message a store error stopped is counted and left
    /// for later; the run goes on with the others. Events that could not
    /// be published fail the run once it has done what it could.
    pub async fn run(&self) -> Result<SweepReport, SweepError> {
        let started = std::time::Instant::now();
        let mut report = SweepReport::default();
        let now = self.clock.now();
        if let Some(outcomes) = &self.reports {
            match outcomes.apply_parked(REPORTS_PER_RUN).await {
                Ok(applied) => report.reports_applied = applied,
                Err(err) => self.failed(&mut report, &err, "parked reports left for the next run"),
            }
        }
        if let Some(calls) = &self.calls {
            match self.end_calls(calls.as_ref(), now).await {
                Ok(ended) => report.calls_ended = ended,
                Err(err) => self.failed(&mut report, &err, "calls at their cap left for the next run"),
            }
        }
        let shards = self.store.due_shards().await;
        let mut allowance = SendAllowance::for_period(&self.config.send_rates);
        loop {
            let now = self.clock.now();
            let moved_before = report.moved();
            let (due, more_due) = self.select_due(shards, now, &mut report).await?;
            report.more_due = more_due || report.deferred_for_rate > 0;
            if due.is_empty() {
                break;
            }
            report.rounds += 1;
            self.handle_round(due, now, &mut allowance, &mut report).await?;
            // A round that moved nothing (the index lagging behind claims,
            // or the store failing) would only find the same again.
            let stalled = report.moved() == moved_before;
            if !more_due || stalled || started.elapsed() >= self.config.time_budget {
                break;
            }
        }
        Ok(report)
    }

    fn failed(&self, report: &mut SweepReport, err: &StoreError, what: &'static str) {
        tracing::warn!(error = %err, "{what}");
        report.errors += 1;
    }

    /// The due work a round takes, and whether due work is left.
    ///
    /// One account's burst must not starve the others, and the due index
    /// is ordered by due time per shard, so a burst due first fills every
    /// page. The sweep reads every shard page by page, all shards at once,
    /// until the work found would let no account fill more than a tenth of
    /// the round, or until `scan_limit` keys are read, or until nothing
    /// more is due. Then the accounts found take turns, one message each,
    /// until `round_size`: an account gets the whole round only when nobody
    /// else has work in reach. What is not taken is left due, unclaimed,
    /// for the next round. A shard whose page cannot be read is left for
    /// the next round; when none can be, the store is down and the run
    /// fails.
    async fn select_due(
        &self,
        shards: DueShards,
        now: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<(Vec<(AccountId, MessageId)>, bool), StoreError> {
        let budget = self.config.round_size.max(1);
        let share = (budget / ACCOUNT_SHARE_DIVISOR).max(1);
        // Each account's due messages, accounts in the order found.
        let mut found: Vec<(AccountId, Vec<MessageId>)> = Vec::new();
        let mut position: HashMap<AccountId, usize> = HashMap::new();
        let mut scanned = 0;
        let mut pages_read = 0;
        let mut unread: Vec<(u32, Option<DueCursor>)> = shards.all().map(|shard| (shard, None)).collect();
        let mut skipped_shards = false;
        while !unread.is_empty() {
            let reads: Vec<_> = unread
                .iter()
                .map(|(shard, after)| self.store.due_messages(*shard, now, self.config.page_size, after.as_ref()))
                .collect();
            let pages: Vec<_> = in_flight(reads, self.config.concurrency).await;
            let mut still_unread = Vec::new();
            let mut first_error = None;
            for ((shard, _), page) in unread.iter().zip(pages) {
                let page = match page {
                    Ok(page) => page,
                    Err(err) => {
                        skipped_shards = true;
                        first_error.get_or_insert(err);
                        continue;
                    }
                };
                pages_read += 1;
                scanned += page.due.len();
                for (account, id) in page.due {
                    let at = *position.entry(account.clone()).or_insert_with(|| {
                        found.push((account, Vec::new()));
                        found.len() - 1
                    });
                    found[at].1.push(id);
                }
                still_unread.extend(page.next.map(|cursor| (*shard, Some(cursor))));
            }
            if let Some(err) = first_error {
                if pages_read == 0 {
                    return Err(err);
                }
                self.failed(report, &err, "a due shard left for the next round");
            }
            unread = still_unread;
            let fair: usize = found.iter().map(|(_, ids)| ids.len().min(share)).sum();
            if fair >= budget || scanned >= self.config.scan_limit {
                break;
            }
        }
        let mut turns: Vec<(AccountId, std::vec::IntoIter<MessageId>)> =
            found.into_iter().map(|(account, ids)| (account, ids.into_iter())).collect();
        let mut taken = Vec::with_capacity(budget.min(scanned));
        let mut taken_per_account = vec![0; turns.len()];
        while taken.len() < budget {
            let before = taken.len();
            for ((account, ids), count) in turns.iter_mut().zip(taken_per_account.iter_mut()) {
                if taken.len() == budget {
                    break;
                }
                if let Some(id) = ids.next() {
                    taken.push((account.clone(), id));
                    *count += 1;
                }
            }
            if taken.len() == before {
                break;
            }
        }
        let busiest = taken_per_account.into_iter().max().unwrap_or(0);
        let permille = busiest * 1000 / taken.len().max(1);
        report.busiest_account_permille = report.busiest_account_permille.max(permille);
        let more_due = !unread.is_empty() || taken.len() < scanned || skipped_shards;
        Ok((taken, more_due))
    }

    /// One round: its messages read (100 to a request) with the records
    /// they are rendered from (shared records read once), rendered, and
    /// stored with their claims (50 to a transaction); then their events
    /// published, 10 to a PutEvents call, several calls at once.
    async fn handle_round(
        &self,
        due: Vec<(AccountId, MessageId)>,
        now: DateTime<Utc>,
        allowance: &mut SendAllowance,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        let concurrency = self.config.concurrency.max(1);
        let reads: Vec<_> = due
            .chunks(MESSAGES_PER_READ)
            .map(|chunk| async move { (chunk.len(), self.store.read_due(chunk, now, self.config.lease).await) })
            .collect();
        let reads = in_flight(reads, concurrency).await;
        let mut claimable = Vec::new();
        let mut results: Vec<Result<Handled, StoreError>> = Vec::new();
        for (len, read) in reads {
            match read {
                Ok(read) => {
                    for message in read {
                        match message {
                            DueMessage::Claimable(claimed) => claimable.push(*claimed),
                            DueMessage::StuckSend(account, id) => results.push(self.recover(&account, &id, now).await),
                            DueMessage::Gone => report.taken_by_others += 1,
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "due messages left for the next round");
                    report.errors += len;
                }
            }
        }
        // Past its channel's rate, a message stays due for the next period
        // (by the channel it was planned on: a recipient rarely moves).
        claimable.retain(|claimed| {
            let within = allowance.take(claimed.message.channel);
            report.deferred_for_rate += usize::from(!within);
            report.more_due |= !within;
            within
        });
        let chunks: Vec<_> = claimable.chunks(CONTEXTS_PER_READ).map(|chunk| self.prepare_chunk(chunk, now)).collect();
        let rendered = in_flight(chunks, concurrency).await.into_iter().flatten();
        for (claimed, result) in claimable.iter().zip(rendered) {
            if !matches!(result, Ok(Handled::Ready(_) | Handled::Render(_))) {
                allowance.give_back(claimed.message.channel);
            }
            results.push(result);
        }

        let mut to_store = Vec::new();
        let mut ready = Vec::new();
        let mut needs = Vec::new();
        for result in results {
            match result {
                Ok(Handled::Ready(event)) => ready.push(event),
                Ok(Handled::Render(render)) => to_store.push(*render),
                Ok(Handled::Ended(MessageStatus::Expired)) => report.expired += 1,
                Ok(Handled::Ended(MessageStatus::Withdrawn)) => report.withdrawn += 1,
                Ok(Handled::Ended(_)) => report.skipped += 1,
                Ok(Handled::TakenByOther) => report.taken_by_others += 1,
                Ok(Handled::Recovered) => report.recovered += 1,
                Ok(Handled::Postponed) => report.postponed += 1,
                Ok(Handled::AwaitingOptIn(need)) => {
                    report.postponed += 1;
                    needs.push(need);
                }
                Err(err) => self.failed(report, &err, "message left for its lease to run out"),
            }
        }
        ready.extend(self.store_all(to_store, now, report).await);
        // Publish what is ready even if some messages failed: they retry on
        // their own after the lease.
        if !ready.is_empty() {
            self.publisher.publish(ready.iter().map(BusEvent::from).collect()).await?;
            report.published += ready.len();
        }
        // Best effort: the records service announced these when it planned
        // the messages; a run does not fail for a repeat that did not go.
        if !needs.is_empty() {
            if let Err(err) = self.publisher.publish(needs.iter().map(BusEvent::from).collect()).await {
                tracing::warn!(error = %err, "opt-in needs not announced again");
            }
        }
        Ok(())
    }

    /// Reads what a chunk of claimable messages is rendered from, in one
    /// request (or two), and decides each.
    async fn prepare_chunk(&self, chunk: &[ClaimedMessage], now: DateTime<Utc>) -> Vec<Result<Handled, StoreError>> {
        let wanted: Vec<ContextKeys> =
            chunk.iter().map(|claimed| ContextKeys::of(&claimed.account, &claimed.message)).collect();
        let contexts = match self.store.render_contexts(&wanted).await {
            Ok(contexts) => contexts,
            Err(err) => return chunk.iter().map(|_| Err(err.clone())).collect(),
        };
        let handled: Vec<_> =
            chunk.iter().zip(contexts).map(|(claimed, context)| self.handle(claimed, context, now)).collect();
        in_flight(handled, self.config.concurrency).await
    }

    /// Stores what each rendered message says, with its claim, and does
    /// what follows; the events of those stored.
    async fn store_all(
        &self,
        to_store: Vec<ToStore>,
        now: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Vec<MessageReady> {
        let rendered: Vec<Rendered> = to_store.iter().map(|one| one.rendered.clone()).collect();
        let concurrency = self.config.concurrency.max(1);
        let writes: Vec<_> = rendered
            .chunks(TRANSACTION_MESSAGES)
            .map(|chunk| async move { (chunk.len(), self.store.store_rendered(chunk, now).await) })
            .collect();
        let writes = in_flight(writes, concurrency).await;
        let mut stored = Vec::with_capacity(to_store.len());
        for (len, write) in writes {
            match write {
                Ok(written) => stored.extend(written.into_iter().map(Some)),
                Err(err) => {
                    tracing::warn!(error = %err, "rendered messages left for their lease to run out");
                    report.errors += len;
                    stored.extend(std::iter::repeat_n(None, len));
                }
            }
        }
        let afterwards: Vec<_> = to_store
            .into_iter()
            .zip(stored)
            .map(|(one, stored)| async move {
                match stored {
                    Some(true) => self.after_storing(&one, now).await.map(|()| Some(Some(ready(&one)))),
                    Some(false) => Ok(Some(None)),
                    // Its write failed: counted already.
                    None => Ok(None),
                }
            })
            .collect();
        let afterwards = in_flight(afterwards, concurrency).await;
        let mut events = Vec::new();
        for after in afterwards {
            match after {
                Ok(Some(Some(event))) => events.push(event),
                Ok(Some(None)) => report.taken_by_others += 1,
                Ok(None) => {}
                Err(err) => self.failed(report, &err, "message left for its lease to run out"),
            }
        }
        events
    }

    async fn after_storing(&self, one: &ToStore, now: DateTime<Utc>) -> Result<(), StoreError> {
        let claimed = &one.rendered.claimed;
        match &one.after {
            AfterStoring::Nothing => {}
            AfterStoring::Told(recipient, told) => {
                // Before the mark: a run that dies here renders it again,
                // and copies once (they are named by the notice).
                self.copy_notice(claimed, recipient, told, now).await?;
                // The next notice is measured against what this one tells.
                self.store.set_notified(&claimed.account, &told.appointment, &told.state).await?;
            }
            AfterStoring::Requested(requested) => {
                // A grant that came since the consent was read stands.
                self.store.mark_consent_requested(&claimed.account, &claimed.message.recipient_id, requested).await?;
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        claimed: &ClaimedMessage,
        context: RenderContext,
        now: DateTime<Utc>,
    ) -> Result<Handled, StoreError> {
        let span = tracing::info_span!("message", message_id = %claimed.message.id, kind = ?claimed.message.kind);
        match self.prepare(claimed, context, now).instrument(span.clone()).await? {
            Ok(handled) => Ok(handled),
            Err(ended) => self.end(claimed, ended, now).instrument(span).await,
        }
    }

    /// Ends a message that will not go out, telling staff what it says to.
    async fn end(
        &self,
        claimed: &ClaimedMessage,
        (status, reason): Ended,
        now: DateTime<Utc>,
    ) -> Result<Handled, StoreError> {
        tracing::info!(status = status.as_str(), reason = ?reason, "message ended at claim");
        let mut ended = Settlement::ended(status, reason);
        let notice = (reason == StatusReason::NoOptIn)
            .then(|| MessageNotice::new(NotificationKind::ExpiredNoOptIn, "no_opt_in"));
        if let Some(notice) = &notice {
            ended = ended.telling(notice.clone());
        }
        if !self.store.end_claimed(claimed, &ended).await? {
            return Ok(Handled::TakenByOther);
        }
        if let Some(notice) = notice {
            self.store.notify_once(&claimed.account, &claimed.message, &notice, now).await?;
        }
        Ok(Handled::Ended(status))
    }

    /// Asks each call past its deadline to end. Chime runs the request
    /// later (the flow's Hangup waits for a speech in progress), so the
    /// deadline stays until the call's HANGUP clears it, and the call is
    /// asked again each run; one Chime no longer knows is over. A call that
    /// cannot be asked (a fault of the deployment's) is given up
    /// [`CALL_END_ATTEMPTS_MINUTES`] after its deadline, so that stale
    /// deadlines never crowd out the run's bound.
    async fn end_calls(&self, calls: &dyn CallControl, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut asked = 0;
        let next_run = now + Duration::minutes(SWEEP_PERIOD_MINUTES as i64);
        for deadline in self.store.due_call_deadlines(now, CALLS_PER_RUN).await? {
            let outcome = calls.end_call(&deadline.transaction_id).await;
            let given_up = now >= deadline.at + Duration::minutes(CALL_END_ATTEMPTS_MINUTES);
            match outcome {
                Ok(CallEnding::Requested) => asked += 1,
                Ok(CallEnding::AlreadyOver) => {}
                Err(ref err) => tracing::warn!(error = %err, given_up, "a call at its cap could not be ended"),
            }
            if outcome == Ok(CallEnding::AlreadyOver) || given_up {
                self.store
                    .clear_call_deadline(&deadline.account, &deadline.message_id, &deadline.transaction_id)
                    .await?;
            } else {
                self.store.postpone_call_deadline(&deadline, next_run).await?;
            }
        }
        Ok(asked)
    }

    /// The recovery pass, for a due message that could not be claimed: a
    /// send whose lease ran out without a settlement (its function died, or
    /// every write after the send failed) ends `sent` with
    /// `outcome_unknown`, keeps its reservation (the provider may have taken
    /// it, and charged for it) and staff are told, once. Anything else was
    /// taken by another sweep.
    async fn recover(&self, account: &AccountId, id: &MessageId, now: DateTime<Utc>) -> Result<Handled, StoreError> {
        let Some(message) = self.store.recover_stuck_send(account, id, now).await? else {
            return Ok(Handled::TakenByOther);
        };
        tracing::warn!(message_id = %id, "send never settled: outcome unknown, not sent again");
        if let Some(notice) = &message.notice {
            self.store.notify_once(account, &message, notice, now).await?;
        }
        Ok(Handled::Recovered)
    }

    /// Renders a claimed message, or says why it must not go out.
    async fn prepare(
        &self,
        claimed: &ClaimedMessage,
        context: RenderContext,
        now: DateTime<Utc>,
    ) -> Result<Result<Handled, Ended>, StoreError> {
        let message = &claimed.message;
        if message.not_after.is_some_and(|limit| now >= limit) {
            let reason = match (message.reason, message.appointment_id.as_ref()) {
                (Some(StatusReason::AwaitingOptIn), _) => StatusReason::NoOptIn,
                (_, Some(_)) => StatusReason::AppointmentStarted,
                (_, None) => StatusReason::TooLate,
            };
            return Ok(Err((MessageStatus::Expired, reason)));
        }
        if message.kind == MessageKind::KeywordAnswer {
            // Written with its words, answering a text that just came: no
            // quiet hours, caps or opt-out hold it (it may confirm one).
            return Ok(Ok(self.as_rendered(claimed).await?));
        }
        let Some(settings) = context.settings.as_ref().filter(|s| s.messaging_enabled) else {
            return Ok(Err((MessageStatus::Skipped, StatusReason::MessagingDisabled)));
        };
        let Some(recipient) = context.recipient.as_ref() else {
            return Ok(Err((MessageStatus::Skipped, StatusReason::NoAddress)));
        };
        // An automated message goes on the recipient's channel as it is
        // now; one staff wrote, on the channel they chose.
        let channel = if message.kind == MessageKind::AdHoc { message.channel } else { recipient.channel };
        let Some(address) = recipient.address_on(channel) else {
            return Ok(Err((MessageStatus::Skipped, StatusReason::NoAddress)));
        };
        let suppressed = context
            .suppressed
            .as_ref()
            .is_some_and(|s| channel == message.channel && s.address.eq_ignore_ascii_case(address.as_str()));
        if suppressed {
            return Ok(Err((MessageStatus::Skipped, StatusReason::Suppressed)));
        }
        // The consent read with the context is the planned channel's; a
        // recipient who moved channel since is held to their new one's.
        let consent = if channel == message.channel {
            context.consent.clone()
        } else {
            self.store.consent(&claimed.account, &message.recipient_id, channel).await?
        };
        if consent.as_ref().is_some_and(|consent| consent.forbids(address.as_str())) {
            return Ok(Err((MessageStatus::Skipped, StatusReason::OptedOut)));
        }
        let consented = consent.as_ref().is_some_and(|consent| consent.allows(address.as_str()));
        if message.kind == MessageKind::OptInRequest {
            if consented {
                return Ok(Err((MessageStatus::Skipped, StatusReason::AlreadyConsented)));
            }
            // Who said no to an earlier request is not asked again.
            if consent.as_ref().is_some_and(|consent| consent.declined(address.as_str())) {
                return Ok(Err((MessageStatus::Skipped, StatusReason::OptedOut)));
            }
        }
        if message.kind != MessageKind::OptInRequest && settings.opt_in.applies_to(channel) && !consented {
            // It waits for consent, until its moment passes (then it
            // expires); one with no such moment is looked at again later.
            // The recipient's request is announced (planned once).
            let until = message.not_after.unwrap_or(now + Duration::days(OPT_IN_RECHECK_DAYS));
            let need = OptInNeeded {
                account_id: claimed.account.clone(),
                recipient_id: message.recipient_id.clone(),
                channel,
                first_due_at: now,
            };
            return Ok(Ok(if self.store.hold_claimed(claimed, until, StatusReason::AwaitingOptIn).await? {
                Handled::AwaitingOptIn(need)
            } else {
                Handled::TakenByOther
            }));
        }
        let timing = ReminderTiming::for_recipient(Some(settings), recipient, channel, self.config.sending_window);
        let zone = timing.zone;
        // Planned inside the allowed hours, a message can still reach them
        // late (a retry, an outage, a recipient who moved zone or channel).
        // Staff may mark what they write urgent: it goes at once.
        let urgent = message.authored.as_ref().is_some_and(|a| a.urgent);
        let allowed = timing.quiet_hours.filter(|_| !urgent).map_or(now, |quiet| quiet.next_allowed(now, zone));
        if allowed > now {
            if message.not_after.is_some_and(|limit| allowed >= limit) {
                return Ok(Err((MessageStatus::Skipped, StatusReason::QuietHours)));
            }
            return Ok(Ok(if self.store.hold_claimed(claimed, allowed, StatusReason::QuietHours).await? {
                Handled::Postponed
            } else {
                Handled::TakenByOther
            }));
        }
        let subject = match message.kind {
            MessageKind::AppointmentReminder | MessageKind::AppointmentNotice => {
                appointment_fields(message, &context, settings, recipient, zone, now)
            }
            MessageKind::BillingReminder | MessageKind::LatePaymentNotice => {
                invoice_fields(message, &context, settings, recipient)
            }
            MessageKind::KeywordAnswer => Ok(Subject::AsRendered),
            MessageKind::OptInRequest => Ok(Subject::OptIn),
            MessageKind::AdHoc => Ok(Subject::Authored),
            MessageKind::FormRequest => self.form_fields(claimed, settings, recipient, now).await?,
        };
        let (fields, told) = match subject {
            Ok(Subject::Render(fields, told)) => (fields, told),
            Ok(Subject::AsRendered) => return Ok(Ok(self.as_rendered(claimed).await?)),
            Ok(Subject::OptIn) => return self.request_opt_in(claimed, settings, recipient, &address, now).await,
            Ok(Subject::Authored) => {
                return self.render_authored(claimed, settings, recipient, channel, &address, now).await
            }
            Err(ended) => return Ok(Err(ended)),
        };
        // The template fetched is the planned channel's; a recipient who
        // changed channel since is rendered with their new channel's.
        let template = if message.copy_of.is_some() {
            // A copy reads as one: the contact variant, never the client's.
            match self.templates.contact_source(message.kind, recipient.channel) {
                Ok(source) => Some(source),
                Err(err) => return Ok(Ok(self.fail_render(claimed, recipient.channel, &err, now).await?)),
            }
        } else if recipient.channel == message.channel {
            context.template.clone()
        } else {
            self.store.get_template(&claimed.account, message.kind, recipient.channel).await?
        };
        let counted;
        let claimed = if message.kind.is_automated() && needs_cap_slot(claimed, settings) {
            // A cap slot is taken under a written claim, so that two sweeps
            // that read the message cannot both count it.
            let Some(written) = self.store.write_claim(claimed).await? else {
                return Ok(Ok(Handled::TakenByOther));
            };
            counted = written;
            match self.within_caps(&counted, settings, zone, now).await? {
                CapSlot::Taken => {}
                CapSlot::Reached => return Ok(Err((MessageStatus::Skipped, StatusReason::CapReached))),
                CapSlot::ClaimLost => return Ok(Ok(Handled::TakenByOther)),
            }
            &counted
        } else {
            claimed
        };
        let rendered =
            match self.templates.render(message.kind, recipient.channel, template.as_ref(), &address, &fields) {
                Ok(rendered) => rendered,
                Err(err) => return Ok(Ok(self.fail_render(claimed, recipient.channel, &err, now).await?)),
            };
        let content = addressed(rendered, message, settings, (recipient, recipient.channel), told.as_deref());
        let after = match told {
            Some(told) => AfterStoring::Told(recipient.clone(), told),
            None => AfterStoring::Nothing,
        };
        Ok(Ok(to_store(claimed, recipient.channel, content, after)))
    }

    /// A message that goes as it was written (a keyword answer, or a notice
    /// rendered by a claim whose send did not happen): its claim is all
    /// there is to write.
    async fn as_rendered(&self, claimed: &ClaimedMessage) -> Result<Handled, StoreError> {
        Ok(match self.store.write_claim(claimed).await? {
            Some(written) => Handled::Ready(MessageReady {
                account_id: written.account,
                message_id: written.message.id,
                channel: written.message.channel,
                claim_token: written.claim_token,
            }),
            None => Handled::TakenByOther,
        })
    }
}

impl ReminderSweep {
    /// Renders an opt-in request (outside the recipient's caps: it is how
    /// they can get messages at all) and marks their consent `requested`,
    /// with the wording they were sent and the policy it linked.
    async fn request_opt_in(
        &self,
        claimed: &ClaimedMessage,
        settings: &AccountSettings,
        recipient: &Recipient,
        address: &Address,
        now: DateTime<Utc>,
    ) -> Result<Result<Handled, Ended>, StoreError> {
        let (account, message) = (&claimed.account, &claimed.message);
        let channel = recipient.channel;
        let policy_url = settings.opt_in.privacy_policy_url.as_deref().unwrap_or_default();
        let link = match (channel, &self.consent_links) {
            (Channel::Email, Some(links)) => {
                let claims = ConsentLinkClaims::for_request(account, &recipient.id, channel, &message.id, now);
                links.url(&claims)
            }
            _ => None,
        };
        let Some(text) = OptInRequestText::new(channel, &settings.practice_name, policy_url, link.as_deref()) else {
            let err = TemplateError::NotTemplated;
            return Ok(Ok(self.fail_render(claimed, channel, &err, now).await?));
        };
        let rendered = RenderedContent {
            to: address.as_str().to_owned(),
            subject: text.subject,
            body: text.body,
            html: text.html,
            ..RenderedContent::default()
        };
        let content = addressed(rendered, message, settings, (recipient, channel), None);
        let requested = Consent {
            channel,
            state: ConsentState::Requested,
            since: now,
            method: answered_by(channel),
            address: address.as_str().to_owned(),
            evidence: ConsentEvidence {
                words: content.body.chars().take(MAX_EVIDENCE_CHARS).collect(),
                reply_id: None,
                message_id: Some(message.id.clone()),
            },
            policy_version: settings.opt_in.privacy_policy_version.clone(),
        };
        Ok(Ok(to_store(claimed, channel, content, AfterStoring::Requested(requested))))
    }

    /// Renders what staff wrote on the channel they chose: a text starts
    /// with the practice's name (carriers want the sender named), an email
    /// without a subject gets one naming the practice.
    async fn render_authored(
        &self,
        claimed: &ClaimedMessage,
        settings: &AccountSettings,
        recipient: &Recipient,
        channel: Channel,
        address: &Address,
        now: DateTime<Utc>,
    ) -> Result<Result<Handled, Ended>, StoreError> {
        let Some(authored) = claimed.message.authored.as_ref() else {
            return Ok(Ok(self.fail_render(claimed, channel, &TemplateError::NotTemplated, now).await?));
        };
        let practice = &settings.practice_name;
        let body = match channel {
            Channel::Sms if !authored.body.starts_with(practice.as_str()) => format!("{practice}: {}", authored.body),
            _ => authored.body.clone(),
        };
        let subject = match channel {
            Channel::Email => Some(authored.subject.clone().unwrap_or_else(|| format!("Message from {practice}"))),
            Channel::Fax => authored.subject.clone(),
            Channel::Sms | Channel::Voice => None,
        };
        let rendered = RenderedContent {
            to: address.as_str().to_owned(),
            subject,
            body,
            attachment_files: authored.attachments.clone(),
            ..RenderedContent::default()
        };
        let content = addressed(rendered, &claimed.message, settings, (recipient, channel), None);
        Ok(Ok(to_store(claimed, channel, content, AfterStoring::Nothing)))
    }

    /// Each contact copied on the client's notices gets their own, telling
    /// what the client's tells, on their own channel and terms.
    async fn copy_notice(
        &self,
        claimed: &ClaimedMessage,
        client: &Recipient,
        told: &Told,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (account, notice) = (&claimed.account, &claimed.message);
        let links = self.store.contact_links(account, &client.id).await?;
        for link in links.iter().filter(|link| link.copies(MessageKind::AppointmentNotice)) {
            let Some(contact) = self.store.get_recipient(account, &link.contact_id).await? else { continue };
            let id = MessageId::copy(&notice.id, &contact.id);
            let mut copy = Message::new(id, MessageKind::AppointmentNotice, contact.channel, contact.id, now, now);
            copy.appointment_id = notice.appointment_id.clone();
            copy.not_after = notice.not_after;
            copy.copy_of = Some(CopyOf {
                client_id: client.id.clone(),
                client_first_name: client.first_name.clone(),
                relationship: link.relationship,
                message_id: notice.id.clone(),
            });
            copy.copied_notice = Some(told.shown.clone());
            self.store.create_message(account, &copy).await?;
        }
        Ok(())
    }

    /// A form request's fields: its form's link and code, while the link is
    /// live (one submitted, revoked, locked or expired meanwhile is not
    /// sent).
    async fn form_fields(
        &self,
        claimed: &ClaimedMessage,
        settings: &AccountSettings,
        recipient: &Recipient,
        now: DateTime<Utc>,
    ) -> Result<Result<Subject, Ended>, StoreError> {
        let form = match &claimed.message.form_id {
            Some(id) => self.store.get_form(&claimed.account, id).await?,
            None => None,
        };
        let Some(form) = form.filter(|form| form.status(now).is_live()) else {
            return Ok(Err((MessageStatus::Withdrawn, StatusReason::FormEnded)));
        };
        let fields = FormFields {
            first_name: recipient.first_name.clone(),
            practice_name: settings.practice_name.clone(),
            practice_phone: settings.practice_phone.to_string(),
            form_title: form.title,
            form_link: form.link,
            access_code: form.access_code,
            expires_on: long_date(
                form.expires_at.with_timezone(&recipient.zone(Some(settings)).tz()).date_naive(),
                &recipient.language,
            ),
        };
        Ok(Ok(Subject::Render(json(&fields), None)))
    }

    /// A message its template cannot render (broken, out of fuel, over its
    /// channel's limit) fails on its own and staff are told; the sweep goes
    /// on with the others.
    async fn fail_render(
        &self,
        claimed: &ClaimedMessage,
        channel: Channel,
        err: &TemplateError,
        now: DateTime<Utc>,
    ) -> Result<Handled, StoreError> {
        tracing::warn!(code = err.code(), "message not rendered");
        let (account, message) = (&claimed.account, &claimed.message);
        let failed = Settlement::ended(MessageStatus::Failed, StatusReason::RenderError);
        if !self.store.end_claimed(claimed, &failed).await? {
            return Ok(Handled::TakenByOther);
        }
        let notification = Notification::new(NotificationKind::RenderFailed, now)
            .about(&message.recipient_id, &message.id, channel)
            .detail(err.code());
        self.store.add_notification(account, &notification).await?;
        Ok(Handled::Ended(MessageStatus::Failed))
    }
}

/// What each channel needs besides the rendered text: the account's sender,
/// an email's HTML part and reply address, a fax's letterhead, a call's
/// language and keypad reply.
fn addressed(
    rendered: RenderedContent,
    message: &Message,
    settings: &AccountSettings,
    (recipient, channel): (&Recipient, Channel),
    told: Option<&Told>,
) -> RenderedContent {
    let letterhead = Letterhead {
        practice_name: settings.practice_name.clone(),
        practice_phone: settings.practice_phone.to_string(),
        recipient_name: format!("{} {}", recipient.first_name, recipient.last_name).trim().to_owned(),
    };
    // A reply by keypad confirms or cancels an appointment still booked:
    // not on a cancellation's notice, not about an invoice.
    let cancelled = told.is_some_and(|told| told.state.status == AppointmentStatus::Cancelled);
    // A contact's copy takes no keypad answer: the appointment is the
    // client's to confirm.
    let about_appointment = matches!(message.kind, MessageKind::AppointmentReminder | MessageKind::AppointmentNotice)
        && message.copy_of.is_none();
    RenderedContent {
        from: settings.senders.on(channel),
        html: rendered.html.clone().or_else(|| (channel == Channel::Email).then(|| html_of(&rendered.body))),
        reply_token: (channel == Channel::Email).then(|| uuid::Uuid::new_v4().simple().to_string()),
        language: Some(recipient.language.as_str().to_owned()),
        letterhead: Some(letterhead),
        // An opt-in request by call is answered with 1.
        keypad_reply: channel == Channel::Voice
            && (message.kind == MessageKind::OptInRequest
                || (settings.voice_replies && about_appointment && !cancelled)),
        ..rendered
    }
}

/// Runs `work` with at most `concurrency` of it in flight, answers in order.
async fn in_flight<F: std::future::Future>(work: Vec<F>, concurrency: usize) -> Vec<F::Output> {
    stream::iter(work).buffered(concurrency.max(1)).collect().await
}

fn to_store(claimed: &ClaimedMessage, channel: Channel, content: RenderedContent, after: AfterStoring) -> Handled {
    Handled::Render(Box::new(ToStore { rendered: Rendered { claimed: claimed.clone(), channel, content }, after }))
}

/// The event that hands a stored message to its channel's function.
fn ready(stored: &ToStore) -> MessageReady {
    let Rendered { claimed, channel, .. } = &stored.rendered;
    MessageReady {
        account_id: claimed.account.clone(),
        message_id: claimed.message.id.clone(),
        channel: *channel,
        claim_token: claimed.claim_token.clone(),
    }
}

/// Whether the message is still to be counted against the recipient's
/// caps (an earlier claim may have counted it).
fn needs_cap_slot(claimed: &ClaimedMessage, settings: &AccountSettings) -> bool {
    !claimed.cap_counted && (settings.caps.per_day.is_some() || settings.caps.per_week.is_some())
}

impl ReminderSweep {
    /// Counts the message against the recipient's caps, in their local day
    /// and ISO week, once however often it is claimed.
    async fn within_caps(
        &self,
        claimed: &ClaimedMessage,
        settings: &AccountSettings,
        zone: TimeZone,
        now: DateTime<Utc>,
    ) -> Result<CapSlot, StoreError> {
        let caps = settings.caps;
        let local = now.with_timezone(&zone.tz()).date_naive();
        let week = local.iso_week();
        let limits = [
            (format!("D{}", local.format("%Y-%m-%d")), caps.per_day),
            (format!("W{}-{:02}", week.year(), week.week()), caps.per_week),
        ];
        let expires = now + chrono::Duration::days(8);
        self.store.take_cap_slot(claimed, limits, expires).await
    }
}

/// How a message ended without going out.
type Ended = (MessageStatus, StatusReason);

/// How long a message with no last moment waits for consent before the
/// sweep looks at it again.
const OPT_IN_RECHECK_DAYS: i64 = 30;

/// What a claimed message goes out with.
enum Subject {
    /// Merge fields to render, and for a notice what it tells.
    Render(serde_json::Value, Option<Box<Told>>),
    /// The content an earlier claim rendered, whose send did not happen.
    AsRendered,
    /// An opt-in request: fixed wording, not a template.
    OptIn,
    /// What staff wrote, as they wrote it.
    Authored,
}

/// What a client's notice tells: the appointment's state the next notice
/// is measured against, and what it shows (its contacts' copies show it).
struct Told {
    appointment: AppointmentId,
    state: NoticeState,
    shown: NoticeCopy,
}

/// Fields of a reminder or notice, or why its appointment no longer wants it.
fn appointment_fields(
    message: &Message,
    context: &RenderContext,
    settings: &AccountSettings,
    recipient: &Recipient,
    zone: TimeZone,
    now: DateTime<Utc>,
) -> Result<Subject, Ended> {
    let Some(appointment) = context.appointment.as_ref().filter(|a| &a.recipient_id == client_of(message)) else {
        return Err((MessageStatus::Withdrawn, StatusReason::AppointmentChanged));
    };
    let fields_of = |starts_at, provider: &str, location: &str| {
        let (date, date_short, time) = AppointmentFields::appointment_time(starts_at, zone, &recipient.language);
        let (client_first_name, relationship) = whose(message, recipient);
        AppointmentFields {
            first_name: recipient.first_name.clone(),
            client_first_name,
            relationship,
            practice_name: settings.practice_name.clone(),
            practice_phone: settings.practice_phone.to_string(),
            provider: provider.to_owned(),
            location: location.to_owned(),
            date,
            date_short,
            time,
        }
    };
    if message.kind == MessageKind::AppointmentReminder {
        if !settings.appointment_reminders.enabled {
            return Err((MessageStatus::Skipped, StatusReason::TurnedOff));
        }
        let current =
            appointment.status == AppointmentStatus::Booked && Some(appointment.starts_at) == message.not_after;
        if !current {
            return Err((MessageStatus::Withdrawn, StatusReason::AppointmentChanged));
        }
        if appointment.confirmed && !settings.appointment_reminders.remind_after_confirmation {
            return Err((MessageStatus::Skipped, StatusReason::Confirmed));
        }
        let fields = fields_of(appointment.starts_at, &appointment.provider, &appointment.location);
        return Ok(Subject::Render(json(&fields), None));
    }
    if !settings.appointment_notices.enabled {
        return Err((MessageStatus::Skipped, StatusReason::TurnedOff));
    }
    if let Some(shown) = &message.copied_notice {
        // A contact's copy tells what the client's notice told.
        let fields = fields_of(shown.starts_at, &shown.provider, &shown.location);
        return Ok(Subject::Render(json(&NoticeFields { appointment: fields, change: shown.change.as_str() }), None));
    }
    let state = appointment.notice_state();
    match NoticeChange::between(context.notified.as_ref(), &state) {
        // This notice told it already (it set `notified`) but did not get
        // out: it goes as rendered then.
        None if message.content.is_some() => Ok(Subject::AsRendered),
        None => Err((MessageStatus::Withdrawn, StatusReason::NothingChanged)),
        Some(change) if change != NoticeChange::Cancelled && now >= appointment.starts_at => {
            Err((MessageStatus::Expired, StatusReason::AppointmentStarted))
        }
        Some(change) => {
            // A cancellation names the appointment the recipient was told of,
            // not an edit made in the same burst that they never heard about.
            let told = context.notified.as_ref().filter(|_| change == NoticeChange::Cancelled);
            let (starts_at, provider, location) = match told {
                Some(told) => (told.starts_at, &told.provider, &told.location),
                None => (appointment.starts_at, &appointment.provider, &appointment.location),
            };
            let fields =
                NoticeFields { appointment: fields_of(starts_at, provider, location), change: change.as_str() };
            let shown = NoticeCopy { change, starts_at, provider: provider.clone(), location: location.clone() };
            let told = Told { appointment: appointment.id.clone(), state, shown };
            Ok(Subject::Render(json(&fields), Some(Box::new(told))))
        }
    }
}

/// Fields of a billing reminder or late notice, or why its invoice no
/// longer wants it.
fn invoice_fields(
    message: &Message,
    context: &RenderContext,
    settings: &AccountSettings,
    recipient: &Recipient,
) -> Result<Subject, Ended> {
    let wanted = |i: &&Invoice| &i.recipient_id == client_of(message) && i.status == InvoiceStatus::Open && i.reminders;
    let Some(invoice) = context.invoice.as_ref().filter(wanted) else {
        return Err((MessageStatus::Withdrawn, StatusReason::InvoiceChanged));
    };
    let turned_on = match message.kind {
        MessageKind::BillingReminder => settings.invoice_messages.billing_reminders,
        _ => settings.invoice_messages.late_payment_notices,
    };
    if !turned_on {
        return Err((MessageStatus::Skipped, StatusReason::TurnedOff));
    }
    let (client_first_name, relationship) = whose(message, recipient);
    let fields = InvoiceFields {
        first_name: recipient.first_name.clone(),
        client_first_name,
        relationship,
        practice_name: settings.practice_name.clone(),
        practice_phone: settings.practice_phone.to_string(),
        amount_due: format_amount(invoice.amount_cents, &invoice.currency),
        due_date: long_date(invoice.due_date, &recipient.language),
        pay_link: invoice.pay_url.clone().unwrap_or_default(),
    };
    Ok(Subject::Render(json(&fields), None))
}

/// Whose record a message is about: the client's own, or the client a
/// contact's copy names.
fn client_of(message: &Message) -> &crate::domain::RecipientId {
    message.copy_of.as_ref().map_or(&message.recipient_id, |copy| &copy.client_id)
}

/// The client's first name and the recipient's relationship to them
/// (`self` in the client's own message).
fn whose(message: &Message, recipient: &Recipient) -> (String, String) {
    match &message.copy_of {
        Some(copy) => (copy.client_first_name.clone(), copy.relationship.as_str().to_owned()),
        None => (recipient.first_name.clone(), "self".to_owned()),
    }
}

/// Field structs of strings always serialise.
fn json(fields: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(fields).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::TimeZone as _;
    use serde_json::json;

    use super::*;
    use crate::channels::CallControlError;
    use crate::domain::{Appointment, Consent, ConsentEvidence, ConsentMethod, ConsentState, RecipientId};
    use crate::services::records::RecordsService;
    use crate::services::testing::{account, booked, settings, sms_client, start, t0, FixedClock, RecordedBus, PHONE};
    use crate::store::calls::CallDeadline;
    use crate::store::memory::MemoryStore;
    use crate::store::notifications::Suppression;
    use crate::store::ports::{
        AppointmentRecords as _, Consents as _, MessagePlanning as _, RecipientRecords as _, SettingsRecords as _,
    };

    struct Rig {
        store: MemoryStore,
        bus: Arc<RecordedBus>,
        config: SweepConfig,
    }

    /// When the tests' reminders (a day before [`start`]) are due.
    fn due() -> DateTime<Utc> {
        start() - Duration::days(1)
    }

    fn r1() -> RecipientId {
        "r1".parse().unwrap()
    }

    impl Rig {
        fn bare(config: SweepConfig) -> Self {
            Self { store: MemoryStore::default(), bus: Arc::default(), config }
        }

        /// The practice, with `changes` to its settings, and its SMS client `r1`.
        async fn new(changes: serde_json::Value) -> Self {
            let rig = Self::bare(SweepConfig::default());
            rig.store.put_settings(&account(), &settings(changes)).await.unwrap();
            rig.store.put_recipient(&account(), &sms_client("r1")).await.unwrap();
            rig
        }

        /// Books an appointment of `r1`'s at [`t0`]: its reminder.
        async fn book(&self, id: &str, starts_at: DateTime<Utc>) -> MessageId {
            let records = RecordsService::new(
                self.store.clone(),
                Arc::new(FixedClock(t0())),
                Arc::new(Templates::default()),
                self.bus.clone(),
            );
            let changes = records.put_appointment(&account(), &booked(id, "r1", starts_at)).await.unwrap();
            changes.scheduled[0].id.clone()
        }

        fn sweep(&self, now: DateTime<Utc>) -> ReminderSweep {
            ReminderSweep::new(
                self.store.clone(),
                self.bus.clone(),
                Arc::new(Templates::default()),
                Arc::new(FixedClock(now)),
                self.config.clone(),
            )
        }

        async fn run(&self, now: DateTime<Utc>) -> SweepReport {
            self.sweep(now).run().await.unwrap()
        }

        fn published(&self) -> Vec<MessageReady> {
            self.bus.of(MessageReady::DETAIL_TYPE)
        }

        fn message(&self, id: &MessageId) -> Message {
            self.store.message(&account(), id).unwrap()
        }

        fn status(&self, id: &MessageId) -> (MessageStatus, Option<StatusReason>) {
            let message = self.message(id);
            (message.status, message.reason)
        }

        /// Runs a sweep at `now` that ends the message `id` at its claim,
        /// publishing nothing: how it ended.
        async fn end(&self, id: &MessageId, now: DateTime<Utc>) -> (MessageStatus, Option<StatusReason>) {
            let report = self.run(now).await;
            let ended = report.skipped + report.expired + report.withdrawn;
            assert_eq!((ended, report.published), (1, 0), "{report:?}");
            self.status(id)
        }
    }

    /// An answer to a keyword, written with its words, due at `at`.
    fn keyword_answer(id: &str, at: DateTime<Utc>) -> Message {
        let content = RenderedContent { to: PHONE.into(), body: "Confirmed, thank you.".into(), ..Default::default() };
        Message {
            content: Some(content),
            ..Message::new(id.parse().unwrap(), MessageKind::KeywordAnswer, Channel::Sms, r1(), at, at)
        }
    }

    fn revoked(address: &str) -> Consent {
        Consent {
            channel: Channel::Sms,
            state: ConsentState::Revoked,
            since: t0(),
            method: ConsentMethod::StopKeyword,
            address: address.into(),
            evidence: ConsentEvidence { words: "STOP".into(), reply_id: None, message_id: None },
            policy_version: None,
        }
    }

    #[tokio::test]
    async fn a_due_reminder_is_rendered_and_published_once() {
        let rig = Rig::new(json!({})).await;
        let id = rig.book("a1", start()).await;
        assert_eq!(rig.run(due() - Duration::minutes(1)).await, SweepReport::default());

        let report = rig.run(due()).await;

        assert_eq!(report.published, 1);
        let published = rig.published();
        assert_eq!((&published[0].message_id, published[0].channel), (&id, Channel::Sms));
        let message = rig.message(&id);
        assert_eq!(message.status, MessageStatus::Claimed);
        assert_eq!(message.claim_token.as_ref(), Some(&published[0].claim_token));
        let content = message.content.unwrap();
        assert_eq!(content.to, PHONE);
        assert!(content.body.contains("Riverside Clinic"), "{}", content.body);
        // Claimed, it is no sweep's within its lease.
        assert_eq!(rig.run(due() + Duration::minutes(1)).await.published, 0);
        assert_eq!(rig.published().len(), 1);
    }

    #[tokio::test]
    async fn a_message_past_its_not_after_expires() {
        let rig = Rig::new(json!({})).await;
        let id = rig.book("a1", start()).await;

        let ended = rig.end(&id, start()).await;

        assert_eq!(ended, (MessageStatus::Expired, Some(StatusReason::AppointmentStarted)));
    }

    #[tokio::test]
    async fn nothing_goes_while_messaging_is_disabled() {
        let rig = Rig::new(json!({})).await;
        let id = rig.book("a1", start()).await;
        rig.store.put_settings(&account(), &settings(json!({"messaging_enabled": false}))).await.unwrap();

        let ended = rig.end(&id, due()).await;

        assert_eq!(ended, (MessageStatus::Skipped, Some(StatusReason::MessagingDisabled)));
    }

    #[tokio::test]
    async fn a_suppressed_address_is_not_sent_to() {
        let rig = Rig::new(json!({})).await;
        let id = rig.book("a1", start()).await;
        let bounced = Suppression { address: PHONE.into(), reason: StatusReason::Bounced, at: t0() };
        rig.store.suppress(&account(), &r1(), Channel::Sms, bounced);

        let ended = rig.end(&id, due()).await;

        assert_eq!(ended, (MessageStatus::Skipped, Some(StatusReason::Suppressed)));
    }

    #[tokio::test]
    async fn a_recipient_who_opted_out_is_skipped() {
        let rig = Rig::new(json!({})).await;
        let id = rig.book("a1", start()).await;
        rig.store.change_consent(&account(), &r1(), &revoked(PHONE)).await.unwrap();

        let ended = rig.end(&id, due()).await;

        assert_eq!(ended, (MessageStatus::Skipped, Some(StatusReason::OptedOut)));
    }

    #[tokio::test]
    async fn an_opt_out_from_a_former_number_does_not_hold_the_current_one() {
        let rig = Rig::new(json!({})).await;
        rig.book("a1", start()).await;
        rig.store.change_consent(&account(), &r1(), &revoked("+12025550100")).await.unwrap();

        assert_eq!(rig.run(due()).await.published, 1);
    }

    fn opt_in_required() -> serde_json::Value {
        json!({"opt_in": {"required": true, "privacy_policy_url": "https://p.example/privacy",
                          "privacy_policy_version": "1"}})
    }

    #[tokio::test]
    async fn with_opt_in_required_a_message_waits_for_consent_until_its_moment_passes() {
        let rig = Rig::new(opt_in_required()).await;
        let id = rig.book("a1", start()).await;

        let report = rig.run(due()).await;

        assert_eq!((report.postponed, report.published), (1, 0));
        assert_eq!(rig.status(&id), (MessageStatus::Held, Some(StatusReason::AwaitingOptIn)));
        assert_eq!(rig.message(&id).due_at, start(), "out of the sweep's way until the appointment");
        assert_eq!(rig.end(&id, start()).await, (MessageStatus::Expired, Some(StatusReason::NoOptIn)));
    }

    #[tokio::test]
    async fn with_opt_in_required_consent_lets_a_message_go() {
        let rig = Rig::new(opt_in_required()).await;
        rig.book("a1", start()).await;
        let granted = Consent { state: ConsentState::Granted, method: ConsentMethod::StaffRecorded, ..revoked(PHONE) };
        rig.store.change_consent(&account(), &r1(), &granted).await.unwrap();

        assert_eq!(rig.run(due()).await.published, 1);
    }

    #[tokio::test]
    async fn booking_and_holding_announce_the_recipients_need_to_opt_in() {
        let rig = Rig::new(opt_in_required()).await;
        let id = rig.book("a1", start()).await;
        let announced: Vec<OptInNeeded> = rig.bus.of(OptInNeeded::DETAIL_TYPE);
        assert_eq!(announced.len(), 1, "the booking announces its first reminder's moment");
        assert_eq!((announced[0].channel, announced[0].first_due_at), (Channel::Sms, due()));

        rig.run(due()).await;

        let announced: Vec<OptInNeeded> = rig.bus.of(OptInNeeded::DETAIL_TYPE);
        assert_eq!(announced.len(), 2, "the hold announces it again, in case the first was lost");
        assert_eq!(announced[1].first_due_at, due());
        assert_eq!(rig.status(&id).1, Some(StatusReason::AwaitingOptIn));
    }

    /// An opt-in request to `r1`, due at `at`.
    async fn opt_in_request(rig: &Rig, at: DateTime<Utc>) -> MessageId {
        let id = MessageId::opt_in_request(&r1(), Channel::Sms, at.timestamp_millis());
        let request = Message::new(id.clone(), MessageKind::OptInRequest, Channel::Sms, r1(), at, at);
        rig.store.create_message(&account(), &request).await.unwrap();
        id
    }

    #[tokio::test]
    async fn an_opt_in_request_goes_with_the_carriers_wording_and_marks_consent_requested() {
        let rig = Rig::new(json!({"opt_in": {"required": true, "privacy_policy_url": "https://p.example/privacy",
            "privacy_policy_version": "7"}}))
        .await;
        rig.store.put_recipient(&account(), &sms_client("r1")).await.unwrap();
        let id = opt_in_request(&rig, due()).await;

        assert_eq!(rig.run(due()).await.published, 1);

        let content = rig.message(&id).content.unwrap();
        assert!(content.body.starts_with("Reply YES to get appointment messages from Riverside Clinic."));
        assert!(content.body.contains("https://p.example/privacy"));
        let consent = rig.store.consent(&account(), &r1(), Channel::Sms).await.unwrap().unwrap();
        assert_eq!((consent.state, consent.method), (ConsentState::Requested, ConsentMethod::SmsReply));
        assert_eq!((consent.evidence.message_id, consent.policy_version), (Some(id), Some("7".into())));
        assert_eq!(consent.evidence.words, content.body, "the wording they were sent is the evidence");
    }

    #[tokio::test]
    async fn an_opt_in_request_is_not_sent_to_who_consented_or_opted_out_or_while_messaging_is_off() {
        let rig = Rig::new(opt_in_required()).await;
        let granted = Consent { state: ConsentState::Granted, method: ConsentMethod::StaffRecorded, ..revoked(PHONE) };
        rig.store.change_consent(&account(), &r1(), &granted).await.unwrap();
        let id = opt_in_request(&rig, due()).await;
        assert_eq!(rig.end(&id, due()).await, (MessageStatus::Skipped, Some(StatusReason::AlreadyConsented)));

        rig.store.change_consent(&account(), &r1(), &revoked(PHONE)).await.unwrap();
        let id = opt_in_request(&rig, due() + Duration::minutes(1)).await;
        assert_eq!(
            rig.end(&id, due() + Duration::minutes(1)).await,
            (MessageStatus::Skipped, Some(StatusReason::OptedOut))
        );

        let off = settings(json!({"messaging_enabled": false}));
        rig.store.put_settings(&account(), &off).await.unwrap();
        let id = opt_in_request(&rig, due() + Duration::minutes(2)).await;
        let at = due() + Duration::minutes(2);
        assert_eq!(rig.end(&id, at).await, (MessageStatus::Skipped, Some(StatusReason::MessagingDisabled)));
    }

    #[tokio::test]
    async fn quiet_hours_hold_an_sms_claimed_at_night_until_they_end() {
        let rig = Rig::new(json!({})).await;
        let id = rig.book("a1", start()).await;
        // The sweep reaches the reminder late (an outage), at 22:30: the
        // practice's hours end at 21:00 and begin again at 08:00.
        let night = due() + Duration::minutes(450);
        let morning = Utc.with_ymd_and_hms(2030, 3, 6, 8, 0, 0).unwrap();

        let report = rig.run(night).await;

        assert_eq!((report.postponed, report.published), (1, 0));
        assert_eq!(rig.status(&id), (MessageStatus::Held, Some(StatusReason::QuietHours)));
        assert_eq!(rig.message(&id).due_at, morning);
        assert_eq!(rig.run(morning - Duration::seconds(1)).await.published, 0);
        assert_eq!(rig.run(morning).await.published, 1);
    }

    #[tokio::test]
    async fn a_keyword_answer_goes_at_once_as_written_even_at_night() {
        let rig = Rig::new(json!({})).await;
        let night = t0() + Duration::hours(11);
        let answer = keyword_answer("k1", night);
        rig.store.create_message(&account(), &answer).await.unwrap();

        let report = rig.run(night).await;

        assert_eq!(report.published, 1);
        let sent = rig.message(&answer.id);
        assert_eq!(sent.status, MessageStatus::Claimed);
        assert_eq!(sent.content, answer.content);
    }

    #[tokio::test]
    async fn a_recipient_at_their_daily_cap_is_skipped() {
        let rig = Rig::new(json!({"caps": {"per_day": 1}})).await;
        let first = rig.book("a1", start()).await;
        let second = rig.book("a2", start()).await;

        let report = rig.run(due()).await;

        assert_eq!((report.published, report.skipped), (1, 1));
        let ended = [rig.status(&first), rig.status(&second)];
        assert!(ended.contains(&(MessageStatus::Skipped, Some(StatusReason::CapReached))), "{ended:?}");
        assert!(ended.contains(&(MessageStatus::Claimed, None)), "{ended:?}");
    }

    #[tokio::test]
    async fn a_message_claimed_again_after_its_lease_counts_once_against_the_cap() {
        let rig = Rig::new(json!({"caps": {"per_day": 1}})).await;
        rig.book("a1", start()).await;
        assert_eq!(rig.run(due()).await.published, 1);

        // Its event led to no send: the lease runs out and it is claimed again.
        let report = rig.run(due() + rig.config.lease).await;

        assert_eq!((report.published, report.skipped), (1, 0));
        let published = rig.published();
        assert_ne!(published[0].claim_token, published[1].claim_token);
    }

    #[tokio::test]
    async fn a_reminder_of_a_start_that_moved_is_withdrawn() {
        let rig = Rig::new(json!({})).await;
        let id = rig.book("a1", start()).await;
        // The appointment moved while its reminder was being claimed.
        let (appointment, links) =
            rig.store.get_appointment(&account(), &"a1".parse().unwrap()).await.unwrap().unwrap();
        let moved = Appointment { starts_at: start() + Duration::hours(1), ..appointment };
        rig.store.put_appointment(&account(), &moved, &links, None).await.unwrap();

        let ended = rig.end(&id, due()).await;

        assert_eq!(ended, (MessageStatus::Withdrawn, Some(StatusReason::AppointmentChanged)));
    }

    #[tokio::test]
    async fn a_send_that_never_settled_ends_sent_with_outcome_unknown_and_staff_are_told() {
        let rig = Rig::new(json!({})).await;
        let id = rig.book("a1", start()).await;
        rig.run(due()).await;
        // Delivery starts the send and dies before settling it.
        let token = rig.published()[0].claim_token.clone();
        assert!(rig.store.start_send(&account(), &id, &token, due(), rig.config.lease));

        let report = rig.run(due() + rig.config.lease).await;

        assert_eq!((report.recovered, report.published), (1, 0));
        assert_eq!(rig.status(&id), (MessageStatus::Sent, Some(StatusReason::OutcomeUnknown)));
        let told = rig.store.notifications(&account());
        assert_eq!(told.len(), 1);
        assert_eq!((told[0].kind, told[0].message_id.as_ref()), (NotificationKind::DeliveryUnknown, Some(&id)));
        // Never sent again.
        assert_eq!(rig.run(due() + rig.config.lease * 3).await, SweepReport::default());
    }

    /// Texts at one a second: a run hands over a minute's worth, and the
    /// rest wait, unclaimed and unrendered, for the next run.
    #[tokio::test]
    async fn a_run_hands_over_no_more_than_a_period_of_its_channels_rate() {
        let mut rig = Rig::new(json!({})).await;
        rig.config.send_rates = SendRates { sms: 1, ..SendRates::default() };
        let mut ids = Vec::new();
        for i in 0..61 {
            ids.push(rig.book(&format!("a{i}"), start() + Duration::seconds(i)).await);
        }
        let all_due = due() + Duration::minutes(2);

        let first = rig.run(all_due).await;
        assert_eq!((first.published, first.deferred_for_rate, first.more_due), (60, 1, true), "{first:?}");
        let waiting: Vec<_> = ids.iter().filter(|id| rig.message(id).content.is_none()).collect();
        assert_eq!(waiting.len(), 1);
        assert_eq!(rig.status(waiting[0]).0, MessageStatus::Scheduled, "not claimed");

        let second = rig.run(all_due + Duration::minutes(1)).await;
        assert_eq!((second.published, second.deferred_for_rate, second.more_due), (1, 0, false), "{second:?}");
    }

    #[tokio::test]
    async fn one_accounts_burst_does_not_crowd_out_another_account() {
        // Pages of one key: the other account's message lies pages deep in
        // its shard, behind the busy account's.
        let config = SweepConfig {
            round_size: 10,
            page_size: 1,
            time_budget: std::time::Duration::ZERO,
            ..SweepConfig::default()
        };
        let rig = Rig::bare(config);
        let busy: AccountId = "busy".parse().unwrap();
        for i in 0..100 {
            let answer = keyword_answer(&format!("k{i}"), t0() - Duration::minutes(1));
            rig.store.create_message(&busy, &answer).await.unwrap();
        }
        // Due after all of the busy account's work.
        rig.store.create_message(&account(), &keyword_answer("k", t0())).await.unwrap();

        let report = rig.run(t0()).await;

        assert_eq!((report.published, report.more_due), (10, true));
        let published = rig.published();
        assert_eq!(published.iter().filter(|event| event.account_id == account()).count(), 1);
    }

    /// Chime, answering each request to end a call as scripted.
    struct Chime {
        answers: Mutex<VecDeque<Result<CallEnding, CallControlError>>>,
        asked: Mutex<usize>,
    }

    #[async_trait]
    impl CallControl for Chime {
        async fn end_call(&self, _transaction_id: &str) -> Result<CallEnding, CallControlError> {
            *self.asked.lock().unwrap() += 1;
            self.answers.lock().unwrap().pop_front().unwrap()
        }
    }

    /// A rig with one call past its deadline at [`t0`], and Chime answering
    /// as `answers` say.
    fn call_at_its_deadline(answers: Vec<Result<CallEnding, CallControlError>>) -> (Rig, Arc<Chime>) {
        let rig = Rig::bare(SweepConfig::default());
        let deadline = CallDeadline {
            account: account(),
            message_id: "m1".parse().unwrap(),
            transaction_id: "call-1".into(),
            at: t0(),
        };
        rig.store.set_call_deadline(&deadline);
        (rig, Arc::new(Chime { answers: Mutex::new(answers.into()), asked: Mutex::new(0) }))
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_is_asked_to_end_each_run_until_it_is_over() {
        let answers = vec![Ok(CallEnding::Requested), Ok(CallEnding::Requested), Ok(CallEnding::AlreadyOver)];
        let (rig, chime) = call_at_its_deadline(answers);
        let run = |minutes| rig.sweep(t0() + Duration::minutes(minutes)).ending_calls(chime.clone());

        assert_eq!(run(0).run().await.unwrap().calls_ended, 1);
        // Not asked again within the run's period.
        assert_eq!(run(0).run().await.unwrap().calls_ended, 0);
        assert_eq!(run(1).run().await.unwrap().calls_ended, 1);
        assert_eq!(rig.store.call_deadlines().len(), 1);
        assert_eq!(run(2).run().await.unwrap().calls_ended, 0);

        assert!(rig.store.call_deadlines().is_empty());
        assert_eq!(*chime.asked.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn a_call_that_cannot_be_asked_to_end_is_given_up_after_ten_minutes() {
        let refused = || Err(CallControlError("ThrottlingException".into()));
        let (rig, chime) = call_at_its_deadline(vec![refused(), refused()]);
        let run = |minutes| rig.sweep(t0() + Duration::minutes(minutes)).ending_calls(chime.clone());

        run(0).run().await.unwrap();
        assert_eq!(rig.store.call_deadlines().len(), 1);
        run(CALL_END_ATTEMPTS_MINUTES).run().await.unwrap();

        assert!(rig.store.call_deadlines().is_empty());
    }
}
