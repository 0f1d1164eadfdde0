# llama-nas worker image: Node for the engine and workers, PyTorch (CUDA) for the trainer.
FROM pytorch/pytorch:2.4.1-cuda12.1-cudnn9-runtime
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \
 && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \
 && apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# runtime dependencies only: every import of the engine is a dependency (test/integration/production-install.test.ts)
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund
COPY . .
# workflows bundled once here, not at every worker start (workers/bundle.ts checks it matches the sources)
RUN npm run build:workflows
ENV NODE_ENV=production
ENV LLAMA_NAS_PYTHON=/opt/conda/bin/python
ENTRYPOINT []
