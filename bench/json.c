/* json.c — a small recursive-descent JSON reader (RFC 8259, UTF-8 passed
 * through), enough for results.json, hyperfine's export and conform.json. */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct json_in {
  const char *p;
  const char *err;
  int depth;
} json_in;

static void json_ws(json_in *in) {
  while (*in->p == ' ' || *in->p == '\n' || *in->p == '\r' || *in->p == '\t')
    in->p++;
}

static json *json_new(json_type t) {
  json *v = calloc(1, sizeof *v);
  if (v)
    v->type = t;
  return v;
}

static void json_put_utf8(char **o, unsigned cp) {
  if (cp < 0x80) {
    *(*o)++ = (char)cp;
  } else if (cp < 0x800) {
    *(*o)++ = (char)(0xc0 | (cp >> 6));
    *(*o)++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *(*o)++ = (char)(0xe0 | (cp >> 12));
    *(*o)++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *(*o)++ = (char)(0x80 | (cp & 0x3f));
  }
}

static char *json_string(json_in *in) {
  if (*in->p != '"') {
    in->err = "expected a string";
    return NULL;
  }
  const char *s = ++in->p;
  size_t cap = 1;
  while (*s && *s != '"') {
    if (*s == '\\' && s[1])
      s++;
    s++;
    cap++;
  }
  char *out = malloc(cap * 3 + 1), *o = out;
  if (!out) {
    in->err = "out of memory";
    return NULL;
  }
  while (*in->p && *in->p != '"') {
    char ch = *in->p++;
    if (ch != '\\') {
      *o++ = ch;
      continue;
    }
    ch = *in->p++;
    switch (ch) {
    case 'n':
      *o++ = '\n';
      break;
    case 't':
      *o++ = '\t';
      break;
    case 'r':
      *o++ = '\r';
      break;
    case 'b':
      *o++ = '\b';
      break;
    case 'f':
      *o++ = '\f';
      break;
    case 'u': {
      unsigned cp = 0;
      for (int i = 0; i < 4 && *in->p; i++, in->p++) {
        char h = *in->p;
        cp = cp * 16 + (unsigned)(h >= 'a'   ? h - 'a' + 10
                                  : h >= 'A' ? h - 'A' + 10
                                             : h - '0');
      }
      json_put_utf8(&o, cp);
      break;
    }
    case 0:
      in->p--;
      break;
    default:
      *o++ = ch;
    }
  }
  if (*in->p != '"') {
    free(out);
    in->err = "unterminated string";
    return NULL;
  }
  in->p++;
  *o = 0;
  return out;
}

static json *json_value(json_in *in);

static int json_push(json *v, char *key, json *kid) {
  if ((v->n & (v->n - 1)) == 0) {
    int cap = v->n ? v->n * 2 : 1;
    json **k = realloc(v->kids, (size_t)cap * sizeof *k);
    if (!k)
      return -1;
    v->kids = k;
    if (v->type == JSON_OBJ) {
      char **ks = realloc(v->keys, (size_t)cap * sizeof *ks);
      if (!ks)
        return -1;
      v->keys = ks;
    }
  }
  if (v->type == JSON_OBJ)
    v->keys[v->n] = key;
  v->kids[v->n++] = kid;
  return 0;
}

static json *json_container(json_in *in, int obj) {
  json *v = json_new(obj ? JSON_OBJ : JSON_ARR);
  if (!v) {
    in->err = "out of memory";
    return NULL;
  }
  in->p++;
  json_ws(in);
  if (*in->p == (obj ? '}' : ']')) {
    in->p++;
    return v;
  }
  for (;;) {
    char *key = NULL;
    json_ws(in);
    if (obj) {
      key = json_string(in);
      if (!key)
        break;
      json_ws(in);
      if (*in->p != ':') {
        free(key);
        in->err = "expected ':'";
        break;
      }
      in->p++;
    }
    json *kid = json_value(in);
    if (!kid || json_push(v, key, kid) < 0) {
      free(key);
      json_free(kid);
      if (!in->err)
        in->err = "out of memory";
      break;
    }
    json_ws(in);
    if (*in->p == ',') {
      in->p++;
      continue;
    }
    if (*in->p == (obj ? '}' : ']')) {
      in->p++;
      return v;
    }
    in->err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
    break;
  }
  json_free(v);
  return NULL;
}

static json *json_value(json_in *in) {
  json_ws(in);
  if (++in->depth > 64) {
    in->err = "nested too deeply";
    return NULL;
  }
  json *v = NULL;
  char c = *in->p;
  if (c == '{' || c == '[') {
    v = json_container(in, c == '{');
  } else if (c == '"') {
    char *s = json_string(in);
    if (s && (v = json_new(JSON_STR)))
      v->str = s;
    else
      free(s);
  } else if (!strncmp(in->p, "true", 4)) {
    in->p += 4;
    v = json_new(JSON_TRUE);
  } else if (!strncmp(in->p, "false", 5)) {
    in->p += 5;
    v = json_new(JSON_FALSE);
  } else if (!strncmp(in->p, "null", 4)) {
    in->p += 4;
    v = json_new(JSON_NULL);
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    char *end;
    double d = strtod(in->p, &end);
    if (end == in->p) {
      in->err = "bad number";
    } else if ((v = json_new(JSON_NUM))) {
      v->num = d;
      in->p = end;
    }
  } else {
    in->err = "unexpected character";
  }
  in->depth--;
  return v;
}

json *json_parse(const char *text, char *err, size_t len) {
  json_in in = {text, NULL, 0};
  json *v = json_value(&in);
  if (v) {
    json_ws(&in);
    if (*in.p) {
      json_free(v);
      v = NULL;
      in.err = "trailing characters";
    }
  }
  if (!v && err)
    snprintf(err, len, "%s at offset %ld", in.err ? in.err : "error",
             (long)(in.p - text));
  return v;
}

json *json_load(const char *path, char *err, size_t len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, len, "%s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t k;
  while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (cap - n < 2) {
      char *b = realloc(buf, cap * 2);
      if (!b) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
      cap *= 2;
    }
  }
  fclose(f);
  if (!buf) {
    snprintf(err, len, "%s: out of memory", path);
    return NULL;
  }
  buf[n] = 0;
  char e[200];
  json *v = json_parse(buf, e, sizeof e);
  if (!v)
    snprintf(err, len, "%s: %s", path, e);
  free(buf);
  return v;
}

void json_free(json *v) {
  if (!v)
    return;
  for (int i = 0; i < v->n; i++) {
    json_free(v->kids[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->kids);
  free(v->keys);
  free(v->str);
  free(v);
}

int json_append(json *arr, const char *key, json *kid) {
  if (!arr || (arr->type != JSON_ARR && arr->type != JSON_OBJ))
    return -1;
  char *k = NULL;
  if (arr->type == JSON_OBJ && !(k = strdup(key ? key : "")))
    return -1;
  if (json_push(arr, k, kid) < 0) {
    free(k);
    return -1;
  }
  return 0;
}

json *json_new_num(double v) {
  json *j = json_new(JSON_NUM);
  if (j)
    j->num = v;
  return j;
}

const json *json_get(const json *v, const char *key) {
  if (!v || v->type != JSON_OBJ)
    return NULL;
  for (int i = 0; i < v->n; i++)
    if (!strcmp(v->keys[i], key))
      return v->kids[i];
  return NULL;
}

const char *json_str(const json *v, const char *key, const char *def) {
  const json *k = json_get(v, key);
  return k && k->type == JSON_STR ? k->str : def;
}

double json_num(const json *v, const char *key, double def) {
  const json *k = json_get(v, key);
  return k && k->type == JSON_NUM ? k->num : def;
}

static void json_text(const json *v, char *buf, size_t len, size_t *pos) {
#define JSON_OUT(...)                                                          \
  do {                                                                         \
    if (*pos < len) {                                                          \
      int k_ = snprintf(buf + *pos, len - *pos, __VA_ARGS__);                  \
      *pos += k_ > 0 ? (size_t)k_ : 0;                                         \
    }                                                                          \
  } while (0)
  switch (v->type) {
  case JSON_NULL:
    JSON_OUT("null");
    break;
  case JSON_TRUE:
    JSON_OUT("true");
    break;
  case JSON_FALSE:
    JSON_OUT("false");
    break;
  case JSON_NUM:
    JSON_OUT("%g", v->num);
    break;
  case JSON_STR:
    JSON_OUT("%s", v->str);
    break;
  case JSON_ARR:
  case JSON_OBJ:
    for (int i = 0; i < v->n; i++) {
      if (i)
        JSON_OUT(" ");
      if (v->type == JSON_OBJ)
        JSON_OUT("%s=", v->keys[i]);
      json_text(v->kids[i], buf, len, pos);
    }
    break;
  }
#undef JSON_OUT
}

void json_to_text(const json *v, char *buf, size_t len) {
  size_t pos = 0;
  if (len)
    buf[0] = 0;
  if (v)
    json_text(v, buf, len, &pos);
}
