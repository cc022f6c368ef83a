//! SQLite's one-statement bookings, written in batches.
//!
//! SQLite has one writer. When every booking waits for the writer lock in
//! turn, most of the time goes to handing the lock over: the next waiter
//! must be scheduled before the database sees its statement. Here each
//! booking joins a queue and waits for its answer; whoever holds the lock
//! runs everything queued so far in one transaction, one statement per
//! booking, and answers each. A refused statement (a taken slot, a reused
//! key: SQLite's default ABORT) undoes only itself and the transaction goes
//! on, so every booking still succeeds or fails on its own. Any other
//! error rolls the batch back, and its bookings then run one statement at
//! a time, each on its own. A batch of one is its own statement, with no
//! BEGIN or COMMIT.
//!
//! A batch with others' bookings runs in its own task, so a caller that
//! goes away cannot leave them half done; a booking whose caller went away
//! before its batch began is not written. The tenant's write epoch moves
//! inside the batch, after the commit, so kept listings see every booking.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bookwarden_domain::id::TenantId;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use tokio::sync::oneshot;

use crate::error::refusal;
use crate::store::{Catalog, WriteEpochs};

/// Bookings waiting for the writer.
pub(crate) struct Combiner {
    queue: Mutex<Vec<Job>>,
    epochs: Arc<WriteEpochs>,
    next_id: AtomicU64,
}

struct Job {
    id: u64,
    tenant: TenantId,
    statement: Statement,
    reply: oneshot::Sender<Result<(), DbErr>>,
}

fn stopped() -> DbErr {
    DbErr::Custom("the booking batch stopped".to_owned())
}

impl Combiner {
    pub(crate) fn new(epochs: Arc<WriteEpochs>) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            epochs,
            next_id: AtomicU64::new(0),
        }
    }

    /// The queue; a panic elsewhere while it was held left it whole (a
    /// push or a take), so a poisoned lock is used as it is.
    fn queue(&self) -> MutexGuard<'_, Vec<Job>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `statement`, a booking of `tenant`, in the next batch and
    /// answers its own outcome.
    pub(crate) async fn execute(
        self: &Arc<Self>,
        conn: &DatabaseConnection,
        writer: &Arc<tokio::sync::Mutex<()>>,
        tenant: TenantId,
        statement: Statement,
    ) -> Result<(), DbErr> {
        let (reply, mut answer) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.queue().push(Job {
            id,
            tenant,
            statement,
            reply,
        });
        loop {
            tokio::select! {
                biased;
                answered = &mut answer => return answered.unwrap_or_else(|_dropped| Err(stopped())),
                guard = writer.clone().lock_owned() => {
                    let jobs = std::mem::take(&mut *self.queue());
                    // Empty: this booking ran in a batch that has finished,
                    // and its answer is waiting.
                    if let [only] = jobs.as_slice()
                        && only.id == id
                    {
                        // Only this caller's own booking: no one else's
                        // can be cut short with it, so no task of its own.
                        run(conn, &self.epochs, jobs).await;
                        drop(guard);
                    } else if !jobs.is_empty() {
                        let conn = conn.clone();
                        let epochs = self.epochs.clone();
                        let batch = tokio::spawn(async move {
                            run(&conn, &epochs, jobs).await;
                            drop(guard);
                        });
                        // Its answers arrive through the channel; a batch
                        // that panicked dropped them, which answers
                        // `stopped`.
                        let _finished = batch.await;
                    }
                }
            }
        }
    }
}

async fn run(conn: &DatabaseConnection, epochs: &WriteEpochs, jobs: Vec<Job>) {
    // A caller that went away before its batch began: not written.
    let jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
    if jobs.len() < 2 {
        // Alone, the statement is its own transaction: no BEGIN or COMMIT.
        return one_by_one(conn, epochs, jobs).await;
    }
    let tx = match conn
        .begin_with_options(TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        })
        .await
    {
        Ok(tx) => tx,
        Err(_) => return one_by_one(conn, epochs, jobs).await,
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut broken = false;
    for job in &jobs {
        let outcome = tx.execute_raw(job.statement.clone()).await.map(|_| ());
        if let Err(error) = &outcome
            && refusal(error).is_none()
        {
            broken = true;
            break;
        }
        outcomes.push(outcome);
    }
    if broken || tx.commit().await.is_err() {
        // Dropping an unfinished transaction rolls it back.
        return one_by_one(conn, epochs, jobs).await;
    }
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        if outcome.is_ok() {
            epochs.bump(job.tenant, Catalog::Untouched);
        }
        let _gone = job.reply.send(outcome);
    }
}

/// Each booking alone, in autocommit: a batch of one, or the bookings of
/// a batch that failed as a whole.
async fn one_by_one(conn: &DatabaseConnection, epochs: &WriteEpochs, jobs: Vec<Job>) {
    for job in jobs {
        let outcome = conn.execute_raw(job.statement).await.map(|_| ());
        if outcome.is_ok() {
            epochs.bump(job.tenant, Catalog::Untouched);
        }
        let _gone = job.reply.send(outcome);
    }
}
