//! The SDK's worker metrics into an OpenTelemetry meter we own. temporalio-common has such a
//! meter (`build_otlp_metric_exporter`), but it keeps its provider private, so nothing can flush
//! it before Lambda freezes the process; this one records into the provider `pipeline` holds.
//! Every data point carries the Worker Deployment Version, because backends that flatten OTLP
//! into metric dimensions (CloudWatch through ADOT, Prometheus) drop resource attributes.

use opentelemetry::{KeyValue, metrics::Meter};
use std::{sync::Arc, time::Duration};
use temporalio_common::telemetry::metrics::{
    CoreMeter, Counter, Gauge, GaugeF64, Histogram, HistogramBase, HistogramDuration,
    HistogramDurationBase, HistogramF64, MetricAttributable, MetricAttributes, MetricParameters,
    NewAttributes, UpDownCounter,
};

/// The instrument `$meter.$kind(..)` with the name, unit and description the SDK asks for in
/// `$params` (a [`MetricParameters`]). A macro: each kind of instrument has a builder type of its
/// own, with no trait in common.
macro_rules! instrument {
    ($meter:expr, $kind:ident, $params:expr) => {{
        let params: MetricParameters = $params;
        $meter
            .$kind(params.name)
            .with_unit(params.unit)
            .with_description(params.description)
            .build()
    }};
}

/// A [`CoreMeter`] whose instruments come from `meter` and whose attributes always include
/// `tags` (the deployment name and build ID).
#[derive(Debug)]
pub(super) struct LambdaCoreMeter {
    meter: Meter,
    tags: Vec<KeyValue>,
}

impl LambdaCoreMeter {
    pub(super) fn new(meter: Meter, tags: Vec<KeyValue>) -> Self {
        Self { meter, tags }
    }
}

impl CoreMeter for LambdaCoreMeter {
    fn new_attributes(&self, attributes: NewAttributes) -> MetricAttributes {
        let kvs = self
            .tags
            .iter()
            .cloned()
            .chain(attributes.attributes.into_iter().map(KeyValue::from))
            .collect();
        MetricAttributes::OTel { kvs: Arc::new(kvs) }
    }

    fn extend_attributes(
        &self,
        existing: MetricAttributes,
        attributes: NewAttributes,
    ) -> MetricAttributes {
        match existing {
            MetricAttributes::OTel { mut kvs } => {
                Arc::make_mut(&mut kvs)
                    .extend(attributes.attributes.into_iter().map(KeyValue::from));
                MetricAttributes::OTel { kvs }
            }
            // Only attributes made by `new_attributes` reach here; anything else would be the
            // SDK mixing meters, and starting afresh keeps the tags.
            _ => self.new_attributes(attributes),
        }
    }

    fn counter(&self, params: MetricParameters) -> Counter {
        Counter::new(Arc::new(instrument!(self.meter, u64_counter, params)))
    }

    fn histogram(&self, params: MetricParameters) -> Histogram {
        Histogram::new(Arc::new(instrument!(self.meter, u64_histogram, params)))
    }

    fn histogram_f64(&self, params: MetricParameters) -> HistogramF64 {
        HistogramF64::new(Arc::new(instrument!(self.meter, f64_histogram, params)))
    }

    fn histogram_duration(&self, mut params: MetricParameters) -> HistogramDuration {
        // Milliseconds, as the SDK's own OpenTelemetry meter reports them by default.
        params.unit = "ms".into();
        let histogram = instrument!(self.meter, u64_histogram, params);
        HistogramDuration::new(Arc::new(MillisecondHistogram(histogram)))
    }

    fn gauge(&self, params: MetricParameters) -> Gauge {
        Gauge::new(Arc::new(instrument!(self.meter, u64_gauge, params)))
    }

    fn gauge_f64(&self, params: MetricParameters) -> GaugeF64 {
        GaugeF64::new(Arc::new(instrument!(self.meter, f64_gauge, params)))
    }

    fn up_down_counter(&self, params: MetricParameters) -> UpDownCounter {
        let counter = instrument!(self.meter, i64_up_down_counter, params);
        UpDownCounter::new(Arc::new(counter))
    }
}

/// Durations recorded as whole milliseconds into a `u64` histogram.
struct MillisecondHistogram(opentelemetry::metrics::Histogram<u64>);

struct BoundMillisecondHistogram(Box<dyn HistogramBase>);

impl MetricAttributable<Box<dyn HistogramDurationBase>> for MillisecondHistogram {
    fn with_attributes(
        &self,
        attributes: &MetricAttributes,
    ) -> Result<Box<dyn HistogramDurationBase>, Box<dyn std::error::Error>> {
        Ok(Box::new(BoundMillisecondHistogram(
            self.0.with_attributes(attributes)?,
        )))
    }
}

impl HistogramDurationBase for BoundMillisecondHistogram {
    fn records(&self, value: Duration) {
        self.0.records(value.as_millis() as u64);
    }
}
