/*
 * push_pull.c - the libckpt example from the README: push a checkpoint
 * with its metadata, then fetch the run's best checkpoint to a file.
 *
 *   cc push_pull.c $(pkg-config --cflags --libs ckpt) -o push_pull
 *   ./push_pull http://127.0.0.1:8420 model.pt best.pt
 */
#include <stdio.h>

#include <ckpt.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s URL FILE OUT\n", argv[0]);
        return 1;
    }
    ckpt_client *c = ckpt_client_new(argv[1], NULL); /* no token */
    if (!c) {
        fprintf(stderr, "bad URL or out of memory\n");
        return 1;
    }

    ckpt_metric metrics[] = {{"val_acc", 0.91}};
    ckpt_meta meta = {
        .run = "demo",
        .has_epoch = 1, .epoch = 3,
        .has_loss = 1, .loss = 0.2,
        .metrics = metrics, .n_metrics = 1,
    };
    ckpt_info *info;
    ckpt_err e = ckpt_push_file(c, &meta, argv[2], &info);
    if (e != CKPT_OK) {
        fprintf(stderr, "push failed: %s (%s)\n", ckpt_client_last_error(c), ckpt_strerror(e));
        ckpt_client_free(c);
        return 1;
    }
    printf("stored checkpoint %lld, sha256 %s\n", (long long)info->id, info->sha256);
    ckpt_info_free(info);

    /* The checkpoint of run "demo" with the lowest loss; argv[3] appears
     * only once its SHA-256 has been verified. */
    ckpt_ref best = ckpt_ref_best("demo", "loss", 0);
    e = ckpt_pull_file(c, &best, argv[3], &info);
    if (e != CKPT_OK) {
        fprintf(stderr, "pull failed: %s (%s)\n", ckpt_client_last_error(c), ckpt_strerror(e));
        ckpt_client_free(c);
        return 1;
    }
    printf("fetched checkpoint %lld (epoch %lld, loss %g) to %s\n", (long long)info->id,
           (long long)info->epoch, info->loss, argv[3]);
    ckpt_info_free(info);
    ckpt_client_free(c);
    return 0;
}
