# Silo's container image: one static binary on a distroless base.
#   docker build -t silo --build-arg VERSION=$(git describe --always) .
#   docker run -p 8080:8080 -v silo-data:/data silo
# See docs/deploy.md for PostgreSQL and S3, and the Kubernetes example.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary needs no libc
# and runs on an image with nothing else in it. (PAM needs cgo and is left
# out; LDAP and OpenID Connect are in.)
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/usr/local/bin/silo ./cmd/silo \
    && mkdir -p /out/data

# distroless/static: CA certificates (for S3, OIDC and LDAPS over TLS),
# /etc/passwd with the unprivileged user 65532, and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usr/local/bin/silo /usr/local/bin/silo
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SILO_LISTEN=0.0.0.0:8080 \
    SILO_DATA=/data
EXPOSE 8080
VOLUME /data
ENTRYPOINT ["/usr/local/bin/silo"]
CMD ["serve"]
