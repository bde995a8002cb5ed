"""The same two models in onnxruntime, one thread, on the tensors kaoyomi-bench-face wrote.

Run by `cargo xtask bench-face` in a virtual environment with onnxruntime and numpy from the
package registry (versions pinned there). Prints `key value` lines like the Rust bench.
"""
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def median_ms(fn, rounds):
    fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    times.sort()
    return times[len(times) // 2]


def prepared(path, h=None, w=None):
    """The model as tract gets it: the detector's input size set to the frame's, and weights
    that the graph also lists as inputs treated as constants (tract does so; onnxruntime would
    otherwise skip constant folding)."""
    model = onnx.load(path)
    graph = model.graph
    names = {i.name for i in graph.initializer}
    for inp in [i for i in graph.input if i.name in names]:
        graph.input.remove(inp)
    if h is not None:
        dims = graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = h, w
    return model.SerializeToString()


def session(model):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def main():
    models, tensors, shape, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    h, w = (int(x) for x in shape.split("x")[2:4])
    det = session(prepared(f"{models}/face_detection_yunet_2023mar.onnx", h, w))
    emb = session(prepared(f"{models}/face_recognition_sface_2021dec_fp32.onnx"))
    det_in = np.fromfile(f"{tensors}/yunet.f32", dtype="<f4").reshape(1, 3, h, w)
    emb_in = np.fromfile(f"{tensors}/sface.f32", dtype="<f4").reshape(1, 3, 112, 112)
    det_name, emb_name = det.get_inputs()[0].name, emb.get_inputs()[0].name
    print(f"ort_version {ort.__version__}")
    print(f"ort_detect_ms {median_ms(lambda: det.run(None, {det_name: det_in}), rounds):.2f}")
    print(f"ort_embed_ms {median_ms(lambda: emb.run(None, {emb_name: emb_in}), rounds):.2f}")
    # Do the two runtimes agree? Cosine between onnxruntime's and tract's unit embedding.
    ours = emb.run(None, {emb_name: emb_in})[0].reshape(-1).astype(np.float64)
    tract = np.fromfile(f"{tensors}/sface_tract.f32", dtype="<f4").astype(np.float64)
    print(f"tract_ort_embedding_cosine {float(ours @ tract / np.linalg.norm(ours)):.6f}")


if __name__ == "__main__":
    main()
