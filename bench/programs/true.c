/* The smallest program: its run time under a runner is that runner's start-up latency
 * (and, under Docker, the container's). */
int main(void)
{
	return 0;
}
