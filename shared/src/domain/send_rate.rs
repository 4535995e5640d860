//! How fast the deployment's providers take messages, per channel: the
//! sweep hands over no more in a period than they can send in it, so the
//! rest waits in the due index (unclaimed, unrendered, nothing reserved)
//! rather than in a queue of events whose claims run out. Within the
//! period, each delivery function's instances are capped (reserved
//! concurrency) and each send holds its instance for a least time
//! ([`SendRates::least_send_time`]), so sends never go faster than the rate.

use std::time::Duration;

use super::credit::SWEEP_PERIOD_MINUTES;
use super::Channel;

/// The longest a send may hold its delivery function's instance: a third
/// of the functions' 30 s timeout, so a slow provider and the hold
/// together still end within it (a send that timed out after reaching its
/// provider would be retried, found settled, and its container restarted).
pub const LONGEST_SEND_HOLD: Duration = Duration::from_secs(10);

/// A delivery function given more instances than its channel's rate can
/// keep busy within [`LONGEST_SEND_HOLD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{instances} instances at {rate} a second would hold each send over {} s: at most {} instances", LONGEST_SEND_HOLD.as_secs(), LONGEST_SEND_HOLD.as_secs() * rate)]
pub struct HoldTooLong {
    instances: u32,
    rate: u64,
}

/// Messages a second each channel's provider takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRates {
    pub email: u32,
    pub sms: u32,
    pub voice: u32,
    pub fax: u32,
}

impl Default for SendRates {
    /// What an AWS account starts with once out of the sandbox: SES's 14
    /// emails a second, SNS's 20 texts a second; a call and a fax a second.
    fn default() -> Self {
        Self { email: 14, sms: 20, voice: 1, fax: 1 }
    }
}

impl SendRates {
    /// No limit a test or a bench would reach.
    pub const UNLIMITED: SendRates = SendRates { email: u32::MAX, sms: u32::MAX, voice: u32::MAX, fax: u32::MAX };

    pub fn per_second(&self, channel: Channel) -> u32 {
        match channel {
            Channel::Email => self.email,
            Channel::Sms => self.sms,
            Channel::Voice => self.voice,
            Channel::Fax => self.fax,
        }
    }

    /// How long each send on `channel` holds one of the delivery function's
    /// `instances` (its reserved concurrency): at most `instances` sends
    /// each this long are under way at once, so no more than the rate go
    /// in any second. Events beyond them wait in Lambda's queue of
    /// throttled invocations, which retries without counting an attempt
    /// and before any credit is reserved. More instances than the rate
    /// can use would hold each send past [`LONGEST_SEND_HOLD`]: refused.
    pub fn least_send_time(&self, channel: Channel, instances: u32) -> Result<Duration, HoldTooLong> {
        let rate = u64::from(self.per_second(channel).max(1));
        // Rounded up: rounding down would let a send through a hair early.
        let hold = Duration::from_nanos((u64::from(instances) * 1_000_000_000).div_ceil(rate));
        if hold > LONGEST_SEND_HOLD {
            return Err(HoldTooLong { instances, rate });
        }
        Ok(hold)
    }

    /// The most messages on `channel` one sweep period may hand over.
    pub fn per_period(&self, channel: Channel) -> usize {
        let seconds = SWEEP_PERIOD_MINUTES * 60;
        usize::try_from(u64::from(self.per_second(channel)).saturating_mul(seconds)).unwrap_or(usize::MAX)
    }
}

/// What is left of each channel's allowance in one sweep run.
#[derive(Debug, Clone)]
pub struct SendAllowance {
    left: [usize; 4],
}

impl SendAllowance {
    pub fn for_period(rates: &SendRates) -> Self {
        Self { left: CHANNELS.map(|channel| rates.per_period(channel)) }
    }

    /// Takes one message's place on `channel`; `false` when none is left.
    pub fn take(&mut self, channel: Channel) -> bool {
        let left = &mut self.left[slot(channel)];
        let taken = *left > 0;
        *left = left.saturating_sub(1);
        taken
    }

    /// Gives back a place taken for a message that was not handed over.
    pub fn give_back(&mut self, channel: Channel) {
        let left = &mut self.left[slot(channel)];
        *left = left.saturating_add(1);
    }
}

const CHANNELS: [Channel; 4] = [Channel::Email, Channel::Sms, Channel::Voice, Channel::Fax];

fn slot(channel: Channel) -> usize {
    match channel {
        Channel::Email => 0,
        Channel::Sms => 1,
        Channel::Voice => 2,
        Channel::Fax => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_allows_a_minute_of_each_channels_rate() {
        let rates = SendRates::default();
        assert_eq!(rates.per_period(Channel::Email), 14 * 60);
        assert_eq!(rates.per_period(Channel::Sms), 20 * 60);
        assert_eq!(SendRates::UNLIMITED.per_period(Channel::Fax), u32::MAX as usize * 60);
    }

    #[test]
    fn each_send_holds_its_instance_long_enough_to_stay_within_the_rate() {
        let rates = SendRates::default();
        // 4 instances, 20 texts a second: each send lasts at least 200 ms.
        assert_eq!(rates.least_send_time(Channel::Sms, 4), Ok(Duration::from_millis(200)));
        assert_eq!(rates.least_send_time(Channel::Fax, 2), Ok(Duration::from_secs(2)));
        let email = rates.least_send_time(Channel::Email, 4).unwrap().as_secs_f64();
        assert!(4.0 / email <= 14.0 + 1e-9, "{email}");
        assert!(SendRates::UNLIMITED.least_send_time(Channel::Sms, 4).unwrap() < Duration::from_micros(1));
    }

    #[test]
    fn more_instances_than_a_rate_keeps_busy_within_the_longest_hold_are_refused() {
        let rates = SendRates::default();
        assert_eq!(rates.least_send_time(Channel::Fax, 10), Ok(LONGEST_SEND_HOLD));
        let refused = rates.least_send_time(Channel::Fax, 11).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "11 instances at 1 a second would hold each send over 10 s: at most 10 instances"
        );
        assert!(rates.least_send_time(Channel::Email, 140).is_ok());
        assert!(rates.least_send_time(Channel::Email, 141).is_err());
    }

    #[test]
    fn an_allowance_runs_out_per_channel_and_takes_back_what_was_not_sent() {
        let mut allowance = SendAllowance::for_period(&SendRates { email: 0, sms: 1, voice: 0, fax: 0 });
        assert!(!allowance.take(Channel::Email));
        let sms_per_period = 60;
        for _ in 0..sms_per_period {
            assert!(allowance.take(Channel::Sms));
        }
        assert!(!allowance.take(Channel::Sms));
        allowance.give_back(Channel::Sms);
        assert!(allowance.take(Channel::Sms));
        assert!(!allowance.take(Channel::Sms));
    }
}
