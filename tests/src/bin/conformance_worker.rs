//! The conformance suite's reference: the same workflows (`temporal_serverless_tests::
//! conformance`) on a plain SDK worker, with no Lambda and no relay, polling
//! `TEMPORAL_TASK_QUEUE` on the server at `TEMPORAL_ADDRESS` (namespace `default`) until killed.

use temporal_serverless::sdk::{
    Runtime, Worker, WorkerOptions,
    client::{Client, ClientOptions, Connection, ConnectionOptions, Url},
    runtime::RuntimeOptions,
};
use temporal_serverless_tests::{
    conformance::ConformanceActivities, for_each_conformance_workflow,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::var("TEMPORAL_ADDRESS")?;
    let task_queue = std::env::var("TEMPORAL_TASK_QUEUE")?;
    let runtime = Runtime::from_current_tokio(RuntimeOptions::default())?;
    let connection = Connection::connect(
        ConnectionOptions::new(Url::parse(&format!("http://{address}"))?).build(),
    )
    .await?;
    let client = Client::new(connection, ClientOptions::new("default").build())?;
    let mut options = WorkerOptions::new(task_queue.as_str());
    macro_rules! register {
        ($workflow:ty) => {
            options = options.register_workflow::<$workflow>()?;
        };
    }
    for_each_conformance_workflow!(register);
    let options = options.register_activities(ConformanceActivities).build();
    let mut worker = Worker::new(&runtime, client, options)?;
    eprintln!("conformance worker polling {task_queue}");
    worker.run().await?;
    Ok(())
}
