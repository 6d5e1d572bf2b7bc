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
        let counter = self
            .meter
            .u64_counter(params.name)
            .with_unit(params.unit)
            .with_description(params.description)
            .build();
        Counter::new(Arc::new(counter))
    }

    fn histogram(&self, params: MetricParameters) -> Histogram {
        Histogram::new(Arc::new(self.u64_histogram(params)))
    }

    fn histogram_f64(&self, params: MetricParameters) -> HistogramF64 {
        let histogram = self
            .meter
            .f64_histogram(params.name)
            .with_unit(params.unit)
            .with_description(params.description)
            .build();
        HistogramF64::new(Arc::new(histogram))
    }

    fn histogram_duration(&self, mut params: MetricParameters) -> HistogramDuration {
        // Milliseconds, as the SDK's own OpenTelemetry meter reports them by default.
        params.unit = "ms".into();
        HistogramDuration::new(Arc::new(MillisecondHistogram(self.u64_histogram(params))))
    }

    fn gauge(&self, params: MetricParameters) -> Gauge {
        let gauge = self
            .meter
            .u64_gauge(params.name)
            .with_unit(params.unit)
            .with_description(params.description)
            .build();
        Gauge::new(Arc::new(gauge))
    }

    fn gauge_f64(&self, params: MetricParameters) -> GaugeF64 {
        let gauge = self
            .meter
            .f64_gauge(params.name)
            .with_unit(params.unit)
            .with_description(params.description)
            .build();
        GaugeF64::new(Arc::new(gauge))
    }

    fn up_down_counter(&self, params: MetricParameters) -> UpDownCounter {
        let counter = self
            .meter
            .i64_up_down_counter(params.name)
            .with_unit(params.unit)
            .with_description(params.description)
            .build();
        UpDownCounter::new(Arc::new(counter))
    }
}

impl LambdaCoreMeter {
    fn u64_histogram(&self, params: MetricParameters) -> opentelemetry::metrics::Histogram<u64> {
        self.meter
            .u64_histogram(params.name)
            .with_unit(params.unit)
            .with_description(params.description)
            .build()
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
