#!/usr/bin/env sh
# Builds the statically linked binary the container image holds: the one place its flags are
# written, used by the Dockerfile and by the tests (which run the result from an empty
# directory, as the image would). glibc linked statically (+crt-static); `--target` keeps
# build scripts and proc-macros dynamic, as they must be. The image is built with the release
# profile (the default here); the tests pass `dev`, the same flags at a fraction of the build
# time. Prints the binary's path.
#
#   deploy/container/build-static.sh [release|dev]
set -eu
cd "$(dirname "$0")/../.."
profile="${1:-release}"
target=x86_64-unknown-linux-gnu
# Debug info is not needed in the image or by the tests, and costs build and link time.
CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_RELEASE_DEBUG=0 \
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --profile "$profile" --locked -p switchyard --target "$target" >&2
dir="$profile"
[ "$profile" = dev ] && dir=debug
echo "$PWD/target/$target/$dir/switchyard"
