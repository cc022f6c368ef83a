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
//! error ends the batch: it is rolled back and every booking in it fails.
//!
//! The batch runs in its own task, so a caller that goes away cannot leave
//! the others' bookings half done.

use std::sync::{Arc, Mutex};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use tokio::sync::oneshot;

use crate::error::refusal;

/// Bookings waiting for the writer.
#[derive(Default)]
pub(crate) struct Combiner {
    queue: Mutex<Vec<Job>>,
}

struct Job {
    statement: Statement,
    reply: oneshot::Sender<Result<(), DbErr>>,
}

fn stopped() -> DbErr {
    DbErr::Custom("the booking batch stopped".to_owned())
}

impl Combiner {
    /// Runs `statement` in the next batch and answers its own outcome.
    pub(crate) async fn execute(
        self: &Arc<Self>,
        conn: &DatabaseConnection,
        writer: &Arc<tokio::sync::Mutex<()>>,
        statement: Statement,
    ) -> Result<(), DbErr> {
        let (reply, mut answer) = oneshot::channel();
        self.queue
            .lock()
            .map_err(|_poisoned| stopped())?
            .push(Job { statement, reply });
        loop {
            tokio::select! {
                biased;
                answered = &mut answer => return answered.unwrap_or_else(|_dropped| Err(stopped())),
                guard = writer.clone().lock_owned() => {
                    let jobs = self
                        .queue
                        .lock()
                        .map(|mut q| std::mem::take(&mut *q))
                        .unwrap_or_default();
                    // Empty: this booking ran in a batch that has finished,
                    // and its answer is waiting.
                    if !jobs.is_empty() {
                        let conn = conn.clone();
                        let batch = tokio::spawn(async move {
                            run(&conn, jobs).await;
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

async fn run(conn: &DatabaseConnection, jobs: Vec<Job>) {
    let tx = match conn
        .begin_with_options(TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        })
        .await
    {
        Ok(tx) => tx,
        Err(error) => {
            let message = error.to_string();
            for job in jobs {
                let _gone = job.reply.send(Err(DbErr::Custom(message.clone())));
            }
            return;
        }
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut broken = false;
    for Job { statement, reply } in jobs {
        if broken {
            outcomes.push((reply, Err(stopped())));
            continue;
        }
        let outcome = tx.execute_raw(statement).await.map(|_| ());
        if let Err(error) = &outcome
            && refusal(error).is_none()
        {
            broken = true;
        }
        outcomes.push((reply, outcome));
    }
    let ended = if broken {
        tx.rollback().await
    } else {
        tx.commit().await
    };
    let failed = broken || ended.is_err();
    for (reply, outcome) in outcomes {
        let answer = match outcome {
            Ok(()) if failed => Err(stopped()),
            other => other,
        };
        let _gone = reply.send(answer);
    }
}
