# The Yuqing image: every `yuqing` command. docker-compose.yml runs the workers and the crawler from it:
#   docker build -t yuqing . && docker run --rm yuqing --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    YUQING_DATA_DIR=/data

RUN useradd --create-home --uid 10001 yuqing && mkdir /data && chown yuqing /data

WORKDIR /app
COPY . .
RUN pip install .

# Settings come from YUQING_* environment variables (secrets included), never from the image.
USER yuqing
VOLUME ["/data"]
ENTRYPOINT ["yuqing"]
CMD ["status"]
