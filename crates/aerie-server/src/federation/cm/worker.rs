//! The CM's sync worker: one per daemon. It is woken by committed changes (the store's
//! change notifications), by configuration and resync requests, and by its heartbeat
//! timer; on failure it backs off exponentially with jitter and tries again, forever.

use std::{sync::Arc, time::Instant};

use tokio_util::sync::CancellationToken;

use aerie_domain::appliance::ApplianceRole;

use super::{
    Request, SyncState, config,
    outcome::{Failure, Step},
    push, register, resync,
};
use crate::federation::{Federation, backoff, keys};

/// One round of the worker.
async fn step(fed: &Federation, last_contact: &mut Instant) -> Result<Step, Failure> {
    let side = &fed.cm;
    let config = match config::load(fed).await? {
        Some(config) if fed.appliance.role().await? == ApplianceRole::Cm => config,
        _ => {
            for request in side.take_requests() {
                request.answer(Err(SyncState::Failed("no MCM is configured".to_owned())));
            }
            return Ok(Step::Off);
        }
    };
    if config.kdf.is_fips() != fed.appliance.fips().await? {
        let why = if config.kdf.is_fips() {
            "FIPS mode was disabled since set mcm ip: the device key was derived in FIPS mode — \
             enable it again, or run set mcm ip … again (and the same on the MCM)"
        } else {
            "FIPS mode was enabled since set mcm ip: the device key was derived without it — \
             disable it again, or run set mcm ip … again (and the same on the MCM)"
        };
        for request in side.take_requests() {
            request.answer(Err(SyncState::Failed(why.to_owned())));
        }
        return Err(Failure::Error(why.to_owned()));
    }
    if config.deregistered {
        for request in side.take_requests() {
            request.answer(Err(SyncState::Deregistered));
        }
        return Ok(Step::Off);
    }
    let mut registrations = Vec::new();
    let mut resyncs = Vec::new();
    for request in side.take_requests() {
        match request {
            Request::Registration(tx) => registrations.push(tx),
            Request::Resync(tx) => resyncs.push(tx),
        }
    }
    if config.credential.is_none() {
        // Resync requests wait for the next round; registration comes first.
        side.requests
            .lock()
            .expect("request lock")
            .extend(resyncs.into_iter().map(Request::Resync));
        side.set_state(SyncState::Registering);
        let outcome = match register::register(fed, &config).await {
            Ok(registered) => register::save(fed, &registered)
                .await
                .map(|()| registered.message(&config)),
            Err(failure) => Err(failure),
        };
        let answer = outcome.as_ref().map(Clone::clone).map_err(Failure::state);
        for tx in registrations {
            let _ = tx.send(answer.clone());
        }
        outcome?;
        side.set_state(SyncState::Connected);
        *last_contact = Instant::now();
        return Ok(Step::Busy);
    }
    for tx in registrations {
        let _ = tx.send(Ok("Already registered; incidents are syncing.".to_owned()));
    }
    if !resyncs.is_empty() || config.resync_pending {
        let outcome = resync::run(fed, &config).await;
        let answer = outcome.as_ref().map(Clone::clone).map_err(Failure::state);
        for tx in resyncs {
            let _ = tx.send(answer.clone());
        }
        outcome?;
        return Ok(Step::Busy);
    }
    push::push(fed, &config, last_contact).await
}

/// [`step`], following an MCM certificate change the MCM can prove.
async fn step_or_repin(fed: &Federation, last_contact: &mut Instant) -> Result<Step, Failure> {
    match step(fed, last_contact).await {
        Err(Failure::PinMismatch(why)) => {
            let Some(config) = config::load(fed).await? else {
                return Err(Failure::Error(why));
            };
            register::repin(fed, &config, &why).await?;
            Ok(Step::Busy)
        }
        other => other,
    }
}

/// The worker: runs until `shutdown`.
pub async fn run(fed: Arc<Federation>, shutdown: CancellationToken) {
    let side = &fed.cm;
    let mut changes = fed.store.watch_changes();
    let mut failures = 0u32;
    let mut last_contact = Instant::now() - push::HEARTBEAT;
    loop {
        changes.borrow_and_update();
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = step_or_repin(&fed, &mut last_contact) => outcome,
        };
        let wait = match outcome {
            Ok(Step::Busy) => {
                failures = 0;
                continue;
            }
            Ok(Step::Idle) => {
                failures = 0;
                Some(push::HEARTBEAT.saturating_sub(last_contact.elapsed()))
            }
            Ok(Step::Off) => None,
            Err(failure) => {
                let deregistered = matches!(failure, Failure::Deregistered);
                if deregistered {
                    let _ = fed.store.set_setting(keys::MCM_DEREGISTERED, "1").await;
                    fed.forget_config();
                }
                side.set_state(failure.state());
                failures += 1;
                (!deregistered).then(|| backoff(failures))
            }
        };
        let sleep = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let woken_by_changes = failures == 0 && wait.is_some();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = side.wake.notified() => {}
            _ = sleep => {}
            _ = changes.changed(), if woken_by_changes => {}
        }
    }
}
