// The S3 endpoint of the distributed tests, as its own process so a test can kill -9 it: s3rver on 127.0.0.1.
// Arguments: <data dir> <port, 0 for any free one> <bucket>. Prints {"port":N} once listening. Stops on SIGTERM,
// and when its parent goes away (stdin closes), so a crashed test run leaves no server behind.
import S3rver from 's3rver';

const [directory, port, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
});
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
