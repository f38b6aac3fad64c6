"""dlio-benchmark 2.0.0's indexed_binary generator for one rank of an
mpirun job (tests/test_dlio_mpi.sh): files <= ranks take its collective
MPI-IO path (IndexedBinaryGenerator.generate, Write_at_all).

usage: mpirun -np R python dlio_gen_mpi.py FOLDER NUM_FILES SAMPLES_PER_FILE RECORD_LENGTH
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_data_refs import dlio_generate  # noqa: E402

folder, nfiles, ns, rl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dlio_generate({"format": "indexed_binary", "num_files_train": nfiles, "num_samples_per_file": ns,
               "record_length": rl}, folder, folder + "-out")
