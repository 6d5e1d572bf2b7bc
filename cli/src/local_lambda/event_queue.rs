//! Each function's `Event` queue, bounded. Lambda takes an asynchronous invocation (a payload of
//! up to 1 MB), answers 202, and keeps the event until an instance has run it, retries
//! included. Here the queue is this process's memory, so it takes at most
//! [`EVENT_QUEUE_BOUND`]: a caller that invokes faster than the function's instances run is
//! throttled beyond it (429 `TooManyRequestsException`), as Lambda throttles a function invoked
//! faster than its reserved concurrency allows, rather than the service growing without end.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

/// What an `Event` queue holds, or may hold: events waiting for an instance, running, or
/// waiting for a retry, and the bytes of their payloads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueLoad {
    /// Events.
    pub events: usize,
    /// Payload bytes.
    pub bytes: usize,
}

/// The most one function's `Event` queue holds: 10 000 events, and 64 MiB of payload, which is
/// 64 events of Lambda's largest (1 MiB). The Temporal server invokes with no payload, so its
/// invocations are bounded by the count; the bytes bound what large payloads may hold.
pub const EVENT_QUEUE_BOUND: QueueLoad = QueueLoad {
    events: 10_000,
    bytes: 64 << 20,
};
// The "64 events of Lambda's largest" above, kept true.
const _: () = assert!(EVENT_QUEUE_BOUND.bytes >= 64 * super::control_plane::EVENT_PAYLOAD_LIMIT);

/// One function's `Event` queue: what it holds, within its bound.
pub struct EventQueue {
    bound: QueueLoad,
    held: Arc<Mutex<QueueLoad>>,
}

/// An event's place in the queue, with its payload's bytes, given up when dropped: after the
/// event's last attempt.
#[derive(Debug)]
pub struct QueuedEvent {
    held: Arc<Mutex<QueueLoad>>,
    bytes: usize,
}

/// An event the queue could not take: what it held then, its bound, and the event's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    /// What the queue held.
    pub held: QueueLoad,
    /// What it may hold.
    pub bound: QueueLoad,
    /// The refused event's payload bytes.
    pub bytes: usize,
}

impl EventQueue {
    /// An empty queue that holds at most `bound`.
    pub fn new(bound: QueueLoad) -> Self {
        Self {
            bound,
            held: Arc::default(),
        }
    }

    /// A place for an event whose payload is `bytes` long, or why there is none.
    pub fn admit(&self, bytes: usize) -> Result<QueuedEvent, QueueFull> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let fits =
            held.events < self.bound.events && held.bytes.saturating_add(bytes) <= self.bound.bytes;
        if !fits {
            return Err(QueueFull {
                held: *held,
                bound: self.bound,
                bytes,
            });
        }
        held.events += 1;
        held.bytes += bytes;
        Ok(QueuedEvent {
            held: self.held.clone(),
            bytes,
        })
    }
}

impl Drop for QueuedEvent {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.events -= 1;
        held.bytes -= self.bytes;
    }
}

impl fmt::Display for QueueFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "its Event queue holds {} events and {} bytes of payload, and the local Lambda \
             service queues at most {} events and {} bytes per function",
            self.held.events, self.held.bytes, self.bound.events, self.bound.bytes
        )?;
        if self.held.events < self.bound.events {
            write!(f, "; this event's {} bytes do not fit", self.bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: QueueLoad = QueueLoad {
        events: 3,
        bytes: 100,
    };

    fn held(queue: &EventQueue) -> QueueLoad {
        *queue.held.lock().unwrap()
    }

    #[test]
    fn events_are_taken_up_to_the_byte_bound_and_their_bytes_given_back_when_they_end() {
        let queue = EventQueue::new(BOUND);
        let first = queue.admit(60).unwrap();
        let full = queue.admit(41).unwrap_err();
        assert_eq!(
            full,
            QueueFull {
                held: QueueLoad {
                    events: 1,
                    bytes: 60
                },
                bound: BOUND,
                bytes: 41,
            }
        );
        assert!(full.to_string().contains("41 bytes do not fit"), "{full}");
        let second = queue.admit(40).unwrap();
        assert!(queue.admit(1).is_err(), "exactly at the bound");
        drop(first);
        let third = queue.admit(60).unwrap();
        assert_eq!(
            held(&queue),
            QueueLoad {
                events: 2,
                bytes: 100
            }
        );
        drop((second, third));
        assert_eq!(held(&queue), QueueLoad::default());
    }

    #[test]
    fn small_events_are_taken_up_to_the_event_bound() {
        let queue = EventQueue::new(BOUND);
        let queued: Vec<QueuedEvent> = (0..3).map(|_| queue.admit(2).unwrap()).collect();
        let full = queue.admit(2).unwrap_err();
        assert!(
            full.to_string()
                .starts_with("its Event queue holds 3 events and 6 bytes"),
            "{full}"
        );
        assert!(!full.to_string().contains("do not fit"), "{full}");
        drop(queued);
        assert!(queue.admit(2).is_ok());
    }
}
