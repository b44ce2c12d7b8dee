"""Example: a hub module as autoscaled Ray Serve replicas (an example, not a hub command).

Each replica holds one module (models loaded once) and answers PaddleHub's request body, so a
`hub serving` client works unchanged against it:

    pip install -e ".[ray]" "ray[serve]>=2.60"
    python examples/ray_serve_keypoints.py face_landmark_localization --max_replicas 2
    # POST http://127.0.0.1:8000/predict/face_landmark_localization  {"images": ["<base64>", ...]}

Without --address it starts a local Ray cluster bound to 127.0.0.1 and an HTTP proxy on 127.0.0.1;
with --address auto it deploys to the running cluster. Mind that Ray Serve 2.60's replicas also open an
inter-deployment gRPC port on every address (`[::]:0`, not configurable): run it behind a firewall.
Ctrl-C stops it.
"""
import argparse
import os
import time


def build_app(module_name, threads, max_replicas):
    import numpy as np
    from ray import serve
    from starlette.requests import Request

    @serve.deployment(ray_actor_options={"num_cpus": threads},
                      autoscaling_config={"min_replicas": 1, "max_replicas": max_replicas,
                                          "target_ongoing_requests": 2})
    class Keypoints:
        def __init__(self):
            os.environ["HUB_NUM_THREADS"] = str(threads)
            import hub_core as hub
            from hub_core import images as imio
            self.imio = imio
            self.module = hub.Module(name=module_name)
            self.module.predict(images=[np.zeros((64, 64, 3), np.uint8)])  # warm up before taking traffic

        async def __call__(self, request: Request):
            try:
                body = await request.json()
                encoded = body["images"]
                assert isinstance(encoded, list) and encoded
            except Exception:  # noqa: BLE001 - any malformed body is the client's error
                return {"status": "101", "msg": "send JSON {\"images\": [\"<base64>\", ...]}", "results": ""}
            decoded, results = [], [None] * len(encoded)
            for i, text in enumerate(encoded):
                try:
                    decoded.append((i, self.imio.from_base64(text, f"images[{i}]")))
                except self.imio.ImageError as e:
                    results[i] = {"data": [], "path": None, "error": str(e)}
            if decoded:
                entries = self.module.predict(images=[image for _, image in decoded])
                for (i, _), entry in zip(decoded, entries):
                    results[i] = entry
            return {"status": "000", "msg": "", "results": results}

    return Keypoints.bind()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", nargs="?", default="face_landmark_localization")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: a local cluster)")
    parser.add_argument("--threads", type=int, default=1, help="CPUs / ONNX Runtime threads per replica")
    parser.add_argument("--max_replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    from hub_core.ray import start_cluster, stop_cluster
    start_cluster(args.address, cpus=args.max_replicas * args.threads + 1)
    from ray import serve
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": args.port})
        serve.run(build_app(args.module, args.threads, args.max_replicas), name=args.module,
                  route_prefix=f"/predict/{args.module}")
        print(f"serving {args.module} on http://127.0.0.1:{args.port}/predict/{args.module} (Ctrl-C stops)")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        stop_cluster()


if __name__ == "__main__":
    main()
