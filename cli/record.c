/* record.c - builders for the JSON lines the tools write, so that every
   tool names and rounds the same things the same way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

double iris_cli_round_sig(double v, int digits) {
    if (!isfinite(v) || v == 0) return v;
    if (digits < 1) digits = 1;
    if (digits > 17) digits = 17;
    char buf[40];
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    return strtod(buf, NULL);
}

cJSON *iris_cli_record(const char *key, const char *input) {
    cJSON *rec = cJSON_CreateObject();
    if (rec && !cJSON_AddStringToObject(rec, key ? key : "file", input ? input : "")) {
        cJSON_Delete(rec);
        return NULL;
    }
    return rec;
}

cJSON *iris_cli_record_error(const char *key, const char *input, const char *message) {
    cJSON *rec = iris_cli_record(key, input);
    if (rec && !cJSON_AddStringToObject(rec, "error", message ? message : "failed")) {
        cJSON_Delete(rec);
        return NULL;
    }
    return rec;
}

cJSON *iris_cli_record_number(cJSON *rec, const char *name, double v, int digits) {
    if (!rec || !cJSON_AddNumberToObject(rec, name, iris_cli_round_sig(v, digits))) return NULL;
    return rec;
}

static cJSON *labelled(int id, const char *label, float score) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (!cJSON_AddNumberToObject(o, "id", id) || (label && !cJSON_AddStringToObject(o, "label", label)) ||
        !cJSON_AddNumberToObject(o, "score", iris_cli_round_sig(score, 6))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *iris_cli_record_topk(cJSON *rec, const char *name, const int *ids, const float *scores, int k,
                            const char *const *labels, int n_labels) {
    if (!rec) return NULL;
    cJSON *arr = cJSON_AddArrayToObject(rec, name);
    if (!arr) return NULL;
    for (int i = 0; i < k; i++) {
        const char *label = labels && ids[i] >= 0 && ids[i] < n_labels ? labels[ids[i]] : NULL;
        cJSON *o = labelled(ids[i], label, scores[i]);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return rec;
}

cJSON *iris_cli_record_box(cJSON *rec, const char *name, int id, const char *label, float score, float x0, float y0,
                           float x1, float y1) {
    if (!rec) return NULL;
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(rec, name);
    if (!arr) arr = cJSON_AddArrayToObject(rec, name);
    if (!cJSON_IsArray(arr)) return NULL;
    cJSON *o = labelled(id, label, score);
    const double c[4] = {x0, y0, x1, y1};
    cJSON *box = cJSON_CreateArray();
    for (int i = 0; box && i < 4; i++) {
        cJSON *v = cJSON_CreateNumber(iris_cli_round_sig(c[i], 6));
        if (!v || !cJSON_AddItemToArray(box, v)) {
            cJSON_Delete(v);
            cJSON_Delete(box);
            box = NULL;
        }
    }
    if (!o || !box || !cJSON_AddItemToObject(o, "box", box)) {
        cJSON_Delete(o);
        cJSON_Delete(box);
        return NULL;
    }
    if (!cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return rec;
}
