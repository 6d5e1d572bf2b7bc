//! The load-shape benchmark (`scripts/bench`): the whole serverless loop on this machine (the real
//! dev server invoking the fixture function through our local Lambda service, instances frozen
//! between invocations), under load shapes from one workflow to bursts, steady Poisson traffic,
//! trickles, ramps and spikes, at two function timeouts and both drain modes. Every cell runs
//! once per end policy at the same time, each policy on a loop of its own with the same arrivals,
//! so that the ratio to holding every invocation to its deadline (what every other SDK's Lambda
//! worker does) is the figure; absolute times are this machine's noise.
//!
//! [`plan`] says what runs, [`run`] runs it and measures, [`report`] prints and judges it,
//! [`floor`] is the least any scheduler could be billed, [`phases`] reads where the billed time
//! went from the function's log, [`sticky`] what a sticky timeout's worker was doing.

pub mod floor;
pub mod phases;
pub mod plan;
pub mod report;
pub mod run;
pub mod sticky;
