#ifndef LX_RT_LOG_H
#define LX_RT_LOG_H
/* append an error line to the --log file `path` (NULL: nowhere), format "json" or text */
void rt_log_error(const char *path, const char *format, const char *msg);
#endif
