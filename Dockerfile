# One image for the dashboard, the supervised proxy and the monitor (docker-compose.yml picks the command).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    LLM_ADMIN_DATA_DIR=/data

WORKDIR /app
# dependencies first (a layer that changes only with the lock file), then our code
COPY pyproject.toml requirements.lock ./
COPY app ./app
COPY generator ./generator
RUN pip install --no-cache-dir -c requirements.lock .

COPY alembic.ini dashboard.py streamlit_app.py ./
COPY migrations ./migrations
COPY pages ./pages
COPY .streamlit ./.streamlit

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin llmadmin \
    && mkdir -p /data \
    && chown llmadmin:llmadmin /data
USER llmadmin
VOLUME ["/data"]
EXPOSE 4000 8501
CMD ["llm-admin", "--help"]
