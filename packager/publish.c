/* Publishing to a library host (see publish.h). */
#include "packager/publish.h"
#include "packager/file_io.h"
#include "packager/text_join.h"
#include "packager/json_text.h"
#include "packager/library_edit.h"
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 12
#define LOCK_SECONDS 20
#define LOCK_WAIT_SECONDS 90
#define LIBRARY_MAX_BYTES (16u << 20)
#define LIBRARY_TIMEOUT_SECONDS 60L

static void say(const struct publish_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct publish_options *o, const char *fmt, ...)
{
	if (!o->say)
		return;
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	o->say(o->say_context, line);
}

/* A member's value as publishing writes it: one key per line, values
 * compact, indented for a top-level member of a two-space library. */
static char *member_text(const cJSON *object)
{
	size_t size = 4096, used = 0;
	char *out = malloc(size);
	if (!out)
		return NULL;
	used += (size_t)snprintf(out, size, "{");
	bool first = true;
	for (const cJSON *item = object ? object->child : NULL; item; item = item->next) {
		char *key = cJSON_PrintUnformatted(&(cJSON){.type = cJSON_String, .valuestring = item->string});
		char *value = cJSON_PrintUnformatted(item);
		if (!key || !value) {
			free(key);
			free(value);
			free(out);
			return NULL;
		}
		size_t need = used + strlen(key) + strlen(value) + 16;
		if (need > size) {
			size = need * 2;
			char *bigger = realloc(out, size);
			if (!bigger) {
				free(key);
				free(value);
				free(out);
				return NULL;
			}
			out = bigger;
		}
		used += (size_t)snprintf(out + used, size - used, "%s\n    %s: %s", first ? "" : ",", key, value);
		first = false;
		free(key);
		free(value);
	}
	if (used + 8 > size) {
		char *bigger = realloc(out, used + 8);
		if (!bigger) {
			free(out);
			return NULL;
		}
		out = bigger;
		size = used + 8;
	}
	snprintf(out + used, size - used, "%s}", first ? "" : "\n  ");
	return out;
}

static bool add_string(cJSON *object, const char *key, const char *value)
{
	return cJSON_AddStringToObject(object, key, value) != NULL;
}

int publish_member_json(const struct publish_options *o, const char *uri, const char *existing_member, char **out,
			struct tkvm_error *err)
{
	*out = NULL;
	cJSON *settings = NULL, *existing = NULL;
	if (o->settings_json) {
		settings = json_text_parse(o->settings_json, strlen(o->settings_json), "the program's settings", err);
		if (!settings)
			return -EINVAL;
		if (!cJSON_IsObject(settings)) {
			cJSON_Delete(settings);
			return tkvm_error_set(err, -EINVAL, "the program's settings are not a JSON object");
		}
	}
	if (existing_member)
		existing = cJSON_Parse(existing_member);
	const cJSON *kept = existing ? cJSON_GetObjectItemCaseSensitive(existing, "filename") : NULL;
	const char *filename = cJSON_IsString(kept) ? kept->valuestring : o->filename;
	cJSON *member = cJSON_CreateObject();
	bool ok = member != NULL;
	const cJSON *group = settings ? cJSON_GetObjectItemCaseSensitive(settings, "group") : NULL;
	if (ok && cJSON_IsString(group))
		ok = add_string(member, "group", group->valuestring);
	ok = ok && add_string(member, "uri", uri);
	if (ok && filename)
		ok = add_string(member, "filename", filename);
	if (ok && o->elf_sha256)
		ok = add_string(member, "sha256", o->elf_sha256);
	for (const cJSON *item = settings ? settings->child : NULL; ok && item; item = item->next) {
		static const char *const own[] = {"group", "uri", "filename", "sha256"};
		bool skip = false;
		for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
			skip |= strcmp(item->string, own[i]) == 0;
		if (skip || cJSON_GetObjectItemCaseSensitive(member, item->string))
			continue;
		cJSON *copy = cJSON_Duplicate(item, 1);
		ok = copy && cJSON_AddItemToObject(member, item->string, copy);
	}
	if (ok)
		*out = member_text(member);
	cJSON_Delete(member);
	cJSON_Delete(settings);
	cJSON_Delete(existing);
	if (!*out)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

void publish_result_free(struct publish_result *r)
{
	free(r->library_url);
	free(r->old_member);
	free(r->new_member);
	memset(r, 0, sizeof *r);
}

/* The library text with this program's member set; *old_member receives
 * the member's value before (NULL when new), as member_text writes it. */
static int edit_library(const struct publish_options *o, const char *text, size_t length, const char *source,
			const char *uri, char **new_text, size_t *new_length, struct publish_result *r,
			struct tkvm_error *err)
{
	free(r->old_member);
	free(r->new_member);
	r->old_member = r->new_member = NULL;
	char *existing = NULL;
	bool blank = strspn(text, " \t\r\n") == length;
	if (!blank) {
		cJSON *root = json_text_parse(text, length, source, err);
		if (!root)
			return -EINVAL;
		const cJSON *member = cJSON_GetObjectItemCaseSensitive(root, o->program);
		if (member) {
			existing = cJSON_PrintUnformatted(member);
			r->old_member = member_text(member);
		}
		cJSON_Delete(root);
	}
	int rc = publish_member_json(o, uri, existing, &r->new_member, err);
	free(existing);
	if (rc < 0)
		return rc;
	return library_edit_set_member(text, length, source, o->program, r->new_member, new_text, new_length, err);
}

/* ---- file:// ---- */

static char *file_url_path(const char *url)
{
	CURLU *u = curl_url();
	char *path = NULL, *out = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) == CURLUE_OK)
		out = strdup(path);
	curl_free(path);
	curl_url_cleanup(u);
	return out;
}

static int publish_directory(const struct publish_options *o, const char *base, struct publish_result *r,
			     struct tkvm_error *err)
{
	char *directory = file_url_path(base);
	if (!directory)
		return tkvm_error_set(err, -EINVAL, "%s: not a usable file:// URL", base);
	struct stat st;
	if (stat(directory, &st) < 0 || !S_ISDIR(st.st_mode)) {
		int rc = tkvm_error_set(err, -ENOENT, "%s: no such directory (create it first: mkdir -p %s)", directory,
					directory);
		free(directory);
		return rc;
	}
	const char *library_name = o->library_name ? o->library_name : PUBLISH_LIBRARY_NAME;
	char *library_path = text_join(directory, library_name);
	char *lock_path = library_path ? text_join(library_path, ".lock") : NULL;
	char *uri = text_join(base, o->archive_name);
	int rc = library_path && lock_path && uri ? 0 : tkvm_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < o->file_count && !o->dry_run; i++) {
		char *path = text_join(directory, o->files[i].name);
		rc = path ? file_write_atomic(path, o->files[i].data, o->files[i].size, err)
			  : tkvm_error_set(err, -ENOMEM, "out of memory");
		if (rc == 0)
			say(o, "copied %s (%zu bytes)", path, o->files[i].size);
		free(path);
	}
	int lock_fd = -1;
	if (rc == 0 && !o->dry_run) {
		lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0)
			rc = tkvm_error_set(err, -errno, "cannot lock %s: %s", lock_path, strerror(errno));
	}
	uint8_t *text = NULL;
	size_t length = 0;
	if (rc == 0) {
		r->attempts = 1;
		rc = file_read_whole(library_path, &text, &length, err);
		if (rc == -ENOENT) {
			r->library_created = true;
			text = (uint8_t *)strdup("");
			rc = text ? 0 : tkvm_error_set(err, -ENOMEM, "out of memory");
		}
	}
	char *new_text = NULL;
	size_t new_length = 0;
	if (rc == 0)
		rc = edit_library(o, (const char *)text, length, library_path, uri, &new_text, &new_length, r, err);
	if (rc == 0 && !o->dry_run) {
		rc = file_write_atomic(library_path, new_text, new_length, err);
		if (rc == 0)
			say(o, "%s: %s %s", library_path, r->old_member ? "replaced" : "added", o->program);
	}
	if (lock_fd >= 0)
		close(lock_fd); /* releases the flock */
	if (rc == 0)
		r->library_url = text_join(base, library_name);
	free(new_text);
	free(text);
	free(uri);
	free(lock_path);
	free(library_path);
	free(directory);
	return rc;
}

/* ---- http(s):// ---- */

static int expect_success(const char *method, const char *url, const struct transfer_response *response,
			  struct tkvm_error *err)
{
	if (response->status >= 200 && response->status < 300)
		return 0;
	char status[TRANSFER_STATUS_TEXT_SIZE];
	transfer_status_text(response->status, status, sizeof status);
	const char *hint = "";
	if (response->status == 405 || response->status == 501)
		hint = " (does the server accept WebDAV PUT there? nginx: dav_methods PUT)";
	else if (response->status == 403)
		hint = " (the server refuses to store files there)";
	return tkvm_error_set(err, -EIO, "%s %s: %s%s", method, url, status, hint);
}

/* MKCOL for base and each missing parent, top down, as mkdir -p does (a
 * WebDAV server makes one level at a time: 409 for a missing parent). 405
 * means the collection is already there; the PUT that follows reports
 * anything else. */
static int make_collections(const char *base, struct tkvm_error *err)
{
	const char *path = strstr(base, "://");
	path = path ? strchr(path + 3, '/') : NULL;
	if (!path)
		return 0;
	char *prefix = strdup(base);
	if (!prefix)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	int rc = 0;
	for (const char *slash = strchr(path + 1, '/'); slash && rc == 0; slash = strchr(slash + 1, '/')) {
		size_t length = (size_t)(slash - base) + 1;
		memcpy(prefix, base, length);
		prefix[length] = 0;
		struct transfer_request mkcol = {.method = "MKCOL", .url = prefix, .timeout_seconds = 30};
		struct transfer_response response;
		rc = transfer_perform(&mkcol, &response, err);
		if (rc == 0)
			transfer_response_free(&response);
	}
	free(prefix);
	return rc;
}

static int put_file(const struct publish_options *o, const char *base, const struct publish_file *file, bool progress,
		    struct tkvm_error *err)
{
	char *url = text_join(base, file->name);
	if (!url)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	struct transfer_request request = {
		.method = "PUT",
		.url = url,
		.body = file->data,
		.body_size = file->size,
		.send_body = true,
		.max_send_speed = o->max_send_speed,
		.progress = progress ? o->progress : NULL,
		.progress_context = o->progress_context,
	};
	struct transfer_response response;
	int rc = transfer_perform(&request, &response, err);
	if (rc == 0 && response.status == 409) {
		/* The directory does not exist (Apache, nginx without create_full_put_path). */
		transfer_response_free(&response);
		rc = make_collections(base, err);
		if (rc == 0)
			rc = transfer_perform(&request, &response, err);
	}
	if (rc == 0) {
		rc = expect_success("PUT", url, &response, err);
		transfer_response_free(&response);
	}
	if (rc == 0)
		say(o, "uploaded %s (%zu bytes)", url, file->size);
	free(url);
	return rc;
}

static const char lock_body[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	"<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:exclusive/></D:lockscope>"
	"<D:locktype><D:write/></D:locktype><D:owner>tkvm publish</D:owner></D:lockinfo>\n";

/* Takes the WebDAV lock on the library, waiting while another publisher
 * holds it. Returns 0 with *token set, 1 when the server has no locking
 * after all, or a negative code. */
static int lock_library(const char *url, char **token, struct tkvm_error *err)
{
	*token = NULL;
	char timeout[64];
	snprintf(timeout, sizeof timeout, "Timeout: Second-%d", LOCK_SECONDS);
	const char *headers[] = {timeout, "Depth: 0", "Content-Type: application/xml", NULL};
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned round = 0;; round++) {
		struct transfer_request request = {
			.method = "LOCK", .url = url, .body = (const uint8_t *)lock_body,
			.body_size = sizeof lock_body - 1, .send_body = true, .headers = headers, .timeout_seconds = 30,
		};
		struct transfer_response response;
		int rc = transfer_perform(&request, &response, err);
		if (rc < 0)
			return rc;
		long status = response.status;
		if (status >= 200 && status < 300 && response.lock_token) {
			*token = response.lock_token;
			response.lock_token = NULL;
			transfer_response_free(&response);
			return 0;
		}
		transfer_response_free(&response);
		/* Class 2 in OPTIONS but no lock for us (not offered here, or forbidden
		 * to this client): the conditional PUT and the read-back remain. */
		if (status == 403 || status == 405 || status == 501 || (status >= 200 && status < 300))
			return 1;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (status != 423 || now.tv_sec - start.tv_sec > LOCK_WAIT_SECONDS) {
			char text[TRANSFER_STATUS_TEXT_SIZE];
			return tkvm_error_set(err, -EBUSY, "LOCK %s: %s%s", url, transfer_status_text(status, text, sizeof text),
					      status == 423 ? " for over a minute (another publisher holds it)" : "");
		}
		/* Held by another publisher: wait a little, with jitter so two waiters do not collide. */
		unsigned ms = 50u + (unsigned)(rand() % 200) + (round < 10 ? round * 50u : 500u);
		struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000L};
		nanosleep(&pause, NULL);
	}
}

static void unlock_library(const char *url, const char *token)
{
	char header[600];
	snprintf(header, sizeof header, "Lock-Token: <%s>", token);
	const char *headers[] = {header, NULL};
	struct transfer_request request = {.method = "UNLOCK", .url = url, .headers = headers, .timeout_seconds = 30};
	struct transfer_response response;
	struct tkvm_error ignored = {0};
	if (transfer_perform(&request, &response, &ignored) == 0)
		transfer_response_free(&response); /* a lost UNLOCK only lets the lock time out */
}

/* Whether a DAV header ("1, 2, <http://apache.org/dav/propset/fs/1>")
 * lists compliance class name, as a whole item. */
static bool dav_lists_class(const char *dav, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = dav; *p;) {
		p += strspn(p, " \t,");
		size_t item = strcspn(p, ",");
		size_t end = item;
		while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		if (end == n && strncmp(p, name, n) == 0)
			return true;
		p += item;
	}
	return false;
}

static bool server_locks(const char *base)
{
	struct transfer_request request = {.method = "OPTIONS", .url = base, .timeout_seconds = 30};
	struct transfer_response response;
	struct tkvm_error ignored = {0};
	if (transfer_perform(&request, &response, &ignored) < 0)
		return false;
	bool class2 = response.dav && dav_lists_class(response.dav, "2");
	transfer_response_free(&response);
	return class2;
}

/* Whether the library at url now holds our member (value as we wrote it). */
static bool library_has(const char *url, const struct publish_options *o, const char *uri)
{
	struct transfer_request request = {.url = url, .max_body = LIBRARY_MAX_BYTES, .timeout_seconds = LIBRARY_TIMEOUT_SECONDS};
	struct transfer_response response;
	struct tkvm_error ignored = {0};
	if (transfer_perform(&request, &response, &ignored) < 0)
		return false;
	bool found = false;
	cJSON *root = response.status == 200 ? json_text_parse((const char *)response.body, response.body_size, url, &ignored) : NULL;
	const cJSON *member = root ? cJSON_GetObjectItemCaseSensitive(root, o->program) : NULL;
	const cJSON *member_uri = member ? cJSON_GetObjectItemCaseSensitive(member, "uri") : NULL;
	const cJSON *member_sha = member ? cJSON_GetObjectItemCaseSensitive(member, "sha256") : NULL;
	found = cJSON_IsString(member_uri) && strcmp(member_uri->valuestring, uri) == 0 &&
		(!o->elf_sha256 || (cJSON_IsString(member_sha) && strcmp(member_sha->valuestring, o->elf_sha256) == 0));
	cJSON_Delete(root);
	transfer_response_free(&response);
	return found;
}

/* A weak ETag (W/"...") never satisfies If-Match, which compares strongly.
 * Apache gives one for a file changed within the last second (its mtime
 * could still change unseen), a strong one afterwards. */
static bool etag_is_weak(const char *etag) { return etag && strncmp(etag, "W/", 2) == 0; }

/* For tests only: TKVM_TEST_PUBLISH_HOOK is a shell command run between
 * reading the library and writing it back, where another publisher's write
 * would land (tests/cli/t0075-publish-apache.sh uses it to make that race
 * happen every time). */
static void run_test_hook(const char *url)
{
	const char *hook = getenv("TKVM_TEST_PUBLISH_HOOK");
	if (!hook || !*hook)
		return;
	if (setenv("TKVM_LIBRARY_URL", url, 1) == 0 && system(hook) != 0)
		fprintf(stderr, "tkvm: TKVM_TEST_PUBLISH_HOOK failed\n");
}

/* One read-modify-write of the library. Returns 0 when written, 1 when
 * someone else wrote in between (412/423: read again), 2 when the library
 * changed too recently for a conditional write (a weak ETag, no lock: read
 * again in a second), or an error. */
static int library_round(const struct publish_options *o, const char *url, const char *uri, const char *token,
			 struct publish_result *r, struct tkvm_error *err)
{
	struct transfer_request get = {.url = url, .max_body = LIBRARY_MAX_BYTES, .timeout_seconds = LIBRARY_TIMEOUT_SECONDS};
	struct transfer_response current;
	int rc = transfer_perform(&get, &current, err);
	if (rc < 0)
		return rc;
	if (current.status != 200 && current.status != 404) {
		char status[TRANSFER_STATUS_TEXT_SIZE];
		rc = tkvm_error_set(err, -EIO, "GET %s: %s", url, transfer_status_text(current.status, status, sizeof status));
		transfer_response_free(&current);
		return rc;
	}
	bool exists = current.status == 200;
	if (exists && !token && etag_is_weak(current.etag) && !o->dry_run) {
		transfer_response_free(&current);
		return 2;
	}
	/* nginx's LOCK creates an empty file where there was none. */
	r->library_created = !exists || strspn((const char *)current.body, " \t\r\n") == current.body_size;
	char *new_text = NULL;
	size_t new_length = 0;
	rc = edit_library(o, exists ? (const char *)current.body : "", exists ? current.body_size : 0, url, uri, &new_text,
			  &new_length, r, err);
	if (rc == 0 && !o->dry_run) {
		run_test_hook(url);
		/* The lock keeps other tkvm publishers out; If-Match (strong ETags
		 * only) also stops writers that ignore locks, where servers honour it. */
		char condition[600], if_header[700];
		const char *headers[4] = {"Content-Type: application/json", NULL, NULL, NULL};
		size_t count = 1;
		if (exists && current.etag && !etag_is_weak(current.etag)) {
			snprintf(condition, sizeof condition, "If-Match: %s", current.etag);
			headers[count++] = condition;
		} else if (!exists) {
			headers[count++] = "If-None-Match: *";
		}
		if (token) {
			snprintf(if_header, sizeof if_header, "If: (<%s>)", token);
			headers[count++] = if_header;
		}
		struct transfer_request put = {
			.method = "PUT", .url = url, .body = (const uint8_t *)new_text, .body_size = new_length,
			.send_body = true, .headers = headers, .max_send_speed = o->max_send_speed,
		};
		struct transfer_response written;
		rc = transfer_perform(&put, &written, err);
		if (rc == 0) {
			if (written.status == 412 || written.status == 423)
				rc = 1;
			else
				rc = expect_success("PUT", url, &written, err);
			transfer_response_free(&written);
		}
	}
	free(new_text);
	transfer_response_free(&current);
	return rc;
}

static int publish_http(const struct publish_options *o, const char *base, struct publish_result *r,
			struct tkvm_error *err)
{
	const char *library_name = o->library_name ? o->library_name : PUBLISH_LIBRARY_NAME;
	char *url = text_join(base, library_name);
	char *uri = text_join(base, o->archive_name);
	if (!url || !uri) {
		free(url);
		free(uri);
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < o->file_count && !o->dry_run; i++)
		rc = put_file(o, base, &o->files[i], i == 0, err);
	bool locking = rc == 0 && !o->dry_run && server_locks(base);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	for (int round = 1; rc == 0; round++) {
		r->attempts = round;
		char *token = NULL;
		if (locking) {
			int locked = lock_library(url, &token, err);
			if (locked < 0) {
				rc = locked;
				break;
			}
			locking = locked == 0;
		}
		rc = library_round(o, url, uri, token, r, err);
		if (token)
			unlock_library(url, token);
		free(token);
		if (rc == 0 && !o->dry_run && !library_has(url, o, uri))
			rc = 1; /* overwritten by a publisher that ignored our lock and condition: again */
		if (rc != 1 && rc != 2)
			break;
		if (round >= MAX_ROUNDS) {
			rc = tkvm_error_set(err, -EAGAIN, "%s: still changing under us after %d attempts; try again", url, round);
			break;
		}
		if (rc == 2)
			say(o, "%s changed within the last second (weak ETag) and the server has no lock for us: "
			       "reading it again in a second (attempt %d)",
			    url, round + 1);
		else
			say(o, "%s changed while we wrote it: reading it again (attempt %d)", url, round + 1);
		unsigned ms = rc == 2 ? 1000u + (unsigned)(rand() % 100) : 20u + (unsigned)(rand() % 100) * (unsigned)round;
		struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000L};
		nanosleep(&pause, NULL);
		rc = 0;
	}
	if (rc == 0 && !o->dry_run)
		say(o, "%s: %s %s", url, r->old_member ? "replaced" : "added", o->program);
	if (rc == 0)
		r->library_url = url;
	else
		free(url);
	free(uri);
	return rc;
}

int publish_program(const struct publish_options *o, struct publish_result *r, struct tkvm_error *err)
{
	memset(r, 0, sizeof *r);
	if (!transfer_url_supported(o->base_url))
		return tkvm_error_set(err, -EPROTONOSUPPORT, "%s: publish to an http://, https:// or file:// URL",
				      o->base_url);
	size_t n = strlen(o->base_url);
	char *base = n && o->base_url[n - 1] == '/' ? strdup(o->base_url) : text_join(o->base_url, "/");
	if (!base)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	int rc = strncasecmp(base, "file://", 7) == 0 ? publish_directory(o, base, r, err) : publish_http(o, base, r, err);
	free(base);
	if (rc < 0)
		publish_result_free(r);
	return rc;
}
