# The wflow worker image for AWS Batch: one image for every flow (flows arrive as components in
# the store, never in the image). Build from the repository root:
#
#   docker build -f deploy/worker.Dockerfile -t wflow-worker:0.1.0 .
#
# See docs/batch.md for pushing it to ECR and pointing `[batch] image` at it.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Only what a worker needs: the S3 store and the worker of deployed runs (no AWS Batch or Step
# Functions client, no guest build tools).
RUN cargo build --release --locked -p wflow-cli --bin wflow --no-default-features --features s3,deployed \
 && strip target/release/wflow

FROM debian:bookworm-slim
# CA roots for HTTPS to S3; nothing else.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home wflow
COPY --from=build /src/target/release/wflow /usr/local/bin/wflow
USER wflow
# The policy this worker checks every task description against (docs/policy.md): bake the
# organisation's in, e.g. `COPY policy.toml /etc/wflow/policy.toml`. Without one, the built-in
# personal policy applies: no environment variables, no network, nothing writable.
# Compiled components are cached here for the life of the container.
ENV WFLOW_CACHE_DIR=/tmp/wflow-cache
# The job definition's command is `wflow worker`; the job's environment names the store
# (WFLOW_STORE, WFLOW_S3_*) and the task (WFLOW_TASK, WFLOW_TASK_DIGEST). Exit codes: docs/batch.md.
CMD ["wflow", "worker"]
