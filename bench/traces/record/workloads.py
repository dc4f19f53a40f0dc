"""The six workloads whose tensor allocations bench/traces/ holds.

Run one under the allocation shim (alloc_shim.c), as record_all.sh does:

    LD_PRELOAD=/tmp/alloc_shim.so BUFFERPOOL_TRACE_OUT=out.csv \\
        /usr/bin/python3 workloads.py resnet18_train

The shim logs c10's CPU allocations only between bufferpool_trace_start()
and bufferpool_trace_stop(), which this script calls around the workload:
building the model, its data and its optimizer, the iterations, and dropping
all of it again, so that a trace starts and ends with nothing live. Importing
torch and the interpreter's own start-up are left out.

Every workload is seeded and runs with one intra-op thread, so that the
allocations come from the Python threads alone (the serving workload's two
threads are told apart in the trace's Thread column) and a re-recording
gives the same sizes in the same order.
"""

import argparse
import ctypes
import gc
import sys
import threading

import torch
import torch.nn as nn
import torch.nn.functional as functional


def small_cnn_train(iterations):
    """Three conv layers and a linear head, SGD with momentum, on random
    32x32 RGB images, batch 32."""
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(iterations):
        images = torch.randn(32, 3, 32, 32)
        labels = torch.randint(0, 10, (32,))
        optimizer.zero_grad()
        loss = functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()


def resnet18_train(iterations):
    """torchvision's ResNet-18 (random weights, 10 classes), SGD with
    momentum, on random 64x64 RGB images, batch 4."""
    import torchvision
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for _ in range(iterations):
        images = torch.randn(4, 3, 64, 64)
        labels = torch.randint(0, 10, (4,))
        optimizer.zero_grad()
        loss = functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()


def transformer_train(iterations):
    """nn.TransformerEncoder, 2 layers of d_model 128, 4 heads, feed-forward
    256, on random token sequences of length 32, batch 8, with an embedding
    and a linear head, Adam."""
    vocabulary = 1000
    embedding = nn.Embedding(vocabulary, 128)
    layer = nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=256,
                                       dropout=0.1, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2)
    head = nn.Linear(128, vocabulary)
    parameters = (list(embedding.parameters()) + list(encoder.parameters()) +
                  list(head.parameters()))
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    for _ in range(iterations):
        tokens = torch.randint(0, vocabulary, (8, 32))
        targets = torch.randint(0, vocabulary, (8, 32))
        optimizer.zero_grad()
        logits = head(encoder(embedding(tokens)))
        loss = functional.cross_entropy(logits.reshape(-1, vocabulary), targets.reshape(-1))
        loss.backward()
        optimizer.step()


def lstm_infer(iterations):
    """A 2-layer LSTM (input 64, hidden 128) and a linear head, inference
    without autograd on random sequences of length 20, batch 8."""
    lstm = nn.LSTM(input_size=64, hidden_size=128, num_layers=2, batch_first=True)
    head = nn.Linear(128, 10)
    lstm.eval()
    with torch.no_grad():
        for _ in range(iterations):
            sequence = torch.randn(8, 20, 64)
            output, _ = lstm(sequence)
            head(output[:, -1]).softmax(dim=-1)


def make_mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10)).eval()


def mlp_infer(iterations):
    """A 784-512-256-10 MLP, inference without autograd, batches of 1 to 64
    rows (varied, as requests to a server are)."""
    model = make_mlp()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(iterations):
            rows = int(torch.randint(1, 65, (1,), generator=generator))
            model(torch.randn(rows, 784, generator=generator)).argmax(dim=-1)


def mlp_serve_2threads(iterations):
    """The MLP of mlp_infer served by two Python threads at once, each running
    `iterations` requests of 1 to 64 rows on the shared model (PyTorch
    releases the GIL inside its operators, so the threads interleave)."""
    model = make_mlp()

    def serve(seed):
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for _ in range(iterations):
                rows = int(torch.randint(1, 65, (1,), generator=generator))
                model(torch.randn(rows, 784, generator=generator)).argmax(dim=-1)

    threads = [threading.Thread(target=serve, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# name -> (function, iterations): iterations chosen so that each trace has
# thousands of events and stays under 2 MB of CSV.
WORKLOADS = {
    "small_cnn_train": (small_cnn_train, 150),
    "resnet18_train": (resnet18_train, 12),
    "transformer_train": (transformer_train, 40),
    "lstm_infer": (lstm_infer, 60),
    "mlp_infer": (mlp_infer, 2000),
    "mlp_serve_2threads": (mlp_serve_2threads, 1000),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--iterations", type=int, default=None,
                        help="override the workload's iteration count")
    arguments = parser.parse_args()
    function, iterations = WORKLOADS[arguments.workload]
    if arguments.iterations is not None:
        iterations = arguments.iterations

    process = ctypes.CDLL(None)
    if not hasattr(process, "bufferpool_trace_start"):
        sys.exit("workloads.py: the allocation shim is not preloaded (see record_all.sh)")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gc.collect()
    process.bufferpool_trace_start()
    function(iterations)
    gc.collect()
    process.bufferpool_trace_stop()


if __name__ == "__main__":
    main()
