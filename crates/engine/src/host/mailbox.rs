//! Where one thread waits, with a deadline, for another: a mailbox of answers to requests (the
//! request itself travels by another channel), and how far each thread's profiles are folded.
//!
//! An answer may come with a parcel: data the answering thread made for the asker (stats it
//! encoded), which the asker takes after the answer. A parcel lives only while its ticket is
//! open or until it is taken, so a reader that gave up leaves nothing behind.
//!
//! Waits are short slices: a thread that waits for the profiler thread must return to
//! JavaScript between slices, because the inspector messages it must itself answer (a rotation
//! evaluated in it) are dispatched only when its JavaScript runs.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use crate::model::sync::{lock, wait_timeout};

pub struct Mailbox<P = ()> {
    state: Mutex<MailboxState<P>>,
    answered: Condvar,
}

impl<P> Default for Mailbox<P> {
    fn default() -> Self {
        Mailbox { state: Mutex::new(MailboxState { next_ticket: 0, answers: HashMap::new(), parcels: HashMap::new() }), answered: Condvar::new() }
    }
}

struct MailboxState<P> {
    next_ticket: u64,
    answers: HashMap<u64, Option<String>>,
    /// Parcels not taken yet; at most [`MAX_PARCELS`], each kept only with its ticket open or
    /// its answer taken.
    parcels: HashMap<u64, P>,
}

/// Parcels wait for askers that are about to take them: more than this means askers that
/// stopped taking them, and a new one is refused rather than kept.
pub const MAX_PARCELS: usize = 16;

impl<P> Mailbox<P> {
    /// A new ticket for one request; its answer slot exists until it is waited for.
    pub fn ticket(&self) -> u64 {
        let mut state = lock(&self.state);
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state.answers.insert(ticket, None);
        ticket
    }

    /// Posts the answer to `ticket`; false if nobody waits for it (any more).
    pub fn answer(&self, ticket: u64, answer: String) -> bool {
        let mut state = lock(&self.state);
        let Some(slot) = state.answers.get_mut(&ticket) else { return false };
        *slot = Some(answer);
        self.answered.notify_all();
        true
    }

    /// Waits for the answer to `ticket` until `timeout` passes; the ticket stays open when no
    /// answer came (wait again, or [`Mailbox::forget`] it).
    pub fn wait_slice(&self, ticket: u64, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.state);
        loop {
            if let Some(answer) = state.answers.get_mut(&ticket).and_then(Option::take) {
                state.answers.remove(&ticket);
                return Some(answer);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !state.answers.contains_key(&ticket) {
                return None;
            }
            state = wait_timeout(&self.answered, state, left);
        }
    }

    /// Gives up on `ticket`: a late answer finds nobody, and its parcel is dropped.
    pub fn forget(&self, ticket: u64) {
        let mut state = lock(&self.state);
        state.answers.remove(&ticket);
        state.parcels.remove(&ticket);
    }

    /// Leaves `parcel` for the asker of `ticket`, before answering it; false (and the parcel
    /// dropped) if nobody waits for that ticket any more, or too many parcels wait already.
    pub fn put_parcel(&self, ticket: u64, parcel: P) -> bool {
        let mut state = lock(&self.state);
        if !state.answers.contains_key(&ticket) || state.parcels.len() >= MAX_PARCELS || state.parcels.try_reserve(1).is_err() {
            return false;
        }
        state.parcels.insert(ticket, parcel);
        true
    }

    /// The parcel left with the answer to `ticket`, once: taken by its asker after the answer.
    pub fn take_parcel(&self, ticket: u64) -> Option<P> {
        lock(&self.state).parcels.remove(&ticket)
    }
}

/// How far each thread's profiles have been folded: the sequence number of the last one.
#[derive(Default)]
pub struct FoldProgress {
    folded: Mutex<HashMap<u32, u64>>,
    advanced: Condvar,
}

impl FoldProgress {
    /// Profile `seq` of `thread` is folded (or lost for good: nobody must wait for it).
    pub fn advance(&self, thread: u32, seq: u64) {
        let mut folded = lock(&self.folded);
        if folded.try_reserve(1).is_err() {
            return;
        }
        let last = folded.entry(thread).or_insert(0);
        *last = (*last).max(seq);
        self.advanced.notify_all();
    }

    /// Waits until profile `seq` of `thread` is folded or `timeout` passes; whether it is.
    pub fn wait(&self, thread: u32, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut folded = lock(&self.folded);
        loop {
            if folded.get(&thread).is_some_and(|&last| last >= seq) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            folded = wait_timeout(&self.advanced, folded, left);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_waiter_gets_the_answer_another_thread_posts() {
        let mailbox: Arc<Mailbox> = Arc::new(Mailbox::default());
        let ticket = mailbox.ticket();
        let poster = {
            let mailbox = mailbox.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                assert!(mailbox.answer(ticket, "done".into()));
            })
        };
        assert_eq!(mailbox.wait_slice(ticket, Duration::from_secs(5)).as_deref(), Some("done"));
        poster.join().unwrap();
        assert!(!mailbox.answer(ticket, "late".into()), "a spent ticket takes no answer");
    }

    #[test]
    fn a_wait_ends_at_its_deadline() {
        let mailbox: Mailbox = Mailbox::default();
        let ticket = mailbox.ticket();
        let begin = Instant::now();
        assert_eq!(mailbox.wait_slice(ticket, Duration::from_millis(30)), None);
        assert!(begin.elapsed() >= Duration::from_millis(30));
        assert!(mailbox.answer(ticket, "late".into()), "an unanswered slice leaves the ticket open");
        assert_eq!(mailbox.wait_slice(ticket, Duration::ZERO).as_deref(), Some("late"));
        let forgotten = mailbox.ticket();
        mailbox.forget(forgotten);
        assert!(!mailbox.answer(forgotten, "nobody".into()), "a forgotten ticket takes no answer");
    }

    #[test]
    fn a_parcel_goes_to_its_asker_once_and_never_outlives_a_forgotten_ticket() {
        let mailbox: Mailbox<Vec<u8>> = Mailbox::default();
        let ticket = mailbox.ticket();
        assert!(mailbox.put_parcel(ticket, vec![1, 2, 3]));
        assert!(mailbox.answer(ticket, "ok".into()));
        assert_eq!(mailbox.wait_slice(ticket, Duration::ZERO).as_deref(), Some("ok"));
        assert_eq!(mailbox.take_parcel(ticket), Some(vec![1, 2, 3]), "the answer taken, the parcel waits for its asker");
        assert_eq!(mailbox.take_parcel(ticket), None, "a parcel is taken once");
        assert!(!mailbox.put_parcel(ticket, vec![4]), "a spent ticket takes no parcel");

        let given_up = mailbox.ticket();
        assert!(mailbox.put_parcel(given_up, vec![5]));
        mailbox.forget(given_up);
        assert_eq!(mailbox.take_parcel(given_up), None, "forgetting a ticket drops its parcel");
        assert!(!mailbox.put_parcel(given_up, vec![6]), "a forgotten ticket takes no parcel");
    }

    #[test]
    fn parcels_nobody_takes_are_bounded() {
        let mailbox: Mailbox<u32> = Mailbox::default();
        let tickets: Vec<u64> = (0..=MAX_PARCELS).map(|_| mailbox.ticket()).collect();
        let kept = tickets.iter().filter(|&&ticket| mailbox.put_parcel(ticket, 0)).count();
        assert_eq!(kept, MAX_PARCELS);
        assert!(mailbox.take_parcel(tickets[0]).is_some());
        assert!(mailbox.put_parcel(tickets[MAX_PARCELS], 1), "a taken parcel makes room");
    }
}
