/* ctrain tool — TensorBoard event files: scalars (loss, metrics, lr) in the
 * TFRecord framing TensorBoard reads (tensorflow/core/lib/io/record_writer.cc:
 * u64 length, masked CRC-32C of the length, data, masked CRC-32C of the
 * data) around tensorflow.Event protos encoded by hand (event.proto,
 * summary.proto: wall_time=1 double, step=2 int64, file_version=3 string,
 * summary=5 { value=1 { tag=1 string, simple_value=2 float } }). */
#ifndef CTRAIN_TOOLS_TFEVENTS_H
#define CTRAIN_TOOLS_TFEVENTS_H

#include <stdint.h>
#include <stdio.h>

typedef struct ct_tfevents {
    FILE *f;
} ct_tfevents;

/* Creates DIR/events.out.tfevents.<seconds>.ctrain (a new file; TensorBoard
 * reads every event file of a directory) and writes the file_version
 * event. Returns 0, or -1 with a message in err. */
int ct_tfevents_open(ct_tfevents *w, const char *dir, char *err, size_t errcap);
/* Appends one scalar event; flushed so TensorBoard sees it live. */
int ct_tfevents_scalar(ct_tfevents *w, const char *tag, int64_t step, float value);
void ct_tfevents_close(ct_tfevents *w);

#endif
