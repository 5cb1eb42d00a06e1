//! A process-wide mailbox where one thread waits, with a deadline, for an answer another thread
//! posts. Worker threads use it to make the main thread act (start, stop) and wait for the
//! outcome synchronously: the request itself travels by another channel.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Mailbox {
    state: Mutex<MailboxState>,
    answered: Condvar,
}

#[derive(Default)]
struct MailboxState {
    next_ticket: u64,
    answers: HashMap<u64, Option<String>>,
}

impl Mailbox {
    /// A new ticket for one request; its answer slot exists until it is waited for.
    pub fn ticket(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state.answers.insert(ticket, None);
        ticket
    }

    /// Posts the answer to `ticket`; false if nobody waits for it (any more).
    pub fn answer(&self, ticket: u64, answer: String) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(slot) = state.answers.get_mut(&ticket) else { return false };
        *slot = Some(answer);
        self.answered.notify_all();
        true
    }

    /// Waits for the answer to `ticket` until `timeout` passes; the ticket is spent either way.
    pub fn wait(&self, ticket: u64, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if let Some(answer) = state.answers.get_mut(&ticket).and_then(Option::take) {
                state.answers.remove(&ticket);
                return Some(answer);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.answers.remove(&ticket);
                return None;
            }
            state = self.answered.wait_timeout(state, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_waiter_gets_the_answer_another_thread_posts() {
        let mailbox = Arc::new(Mailbox::default());
        let ticket = mailbox.ticket();
        let poster = {
            let mailbox = mailbox.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                assert!(mailbox.answer(ticket, "done".into()));
            })
        };
        assert_eq!(mailbox.wait(ticket, Duration::from_secs(5)).as_deref(), Some("done"));
        poster.join().unwrap();
        assert!(!mailbox.answer(ticket, "late".into()), "a spent ticket takes no answer");
    }

    #[test]
    fn a_wait_ends_at_its_deadline() {
        let mailbox = Mailbox::default();
        let ticket = mailbox.ticket();
        let begin = Instant::now();
        assert_eq!(mailbox.wait(ticket, Duration::from_millis(30)), None);
        assert!(begin.elapsed() >= Duration::from_millis(30));
    }
}
