// MiniHDFS runs a real HDFS on loopback for lightbeam's tests and demos:
// Hadoop's MiniDFSCluster (a NameNode and one DataNode in this JVM, from the
// hadoop-client-minicluster artifact), started by scripts/hdfs.sh.
//
//   java -cp CLASSPATH MiniHDFS BASEDIR PORT format|keep READYFILE [ADDR]
//
// BASEDIR holds the cluster's storage; "format" starts with an empty file
// system, "keep" restarts on what BASEDIR holds (a cluster stopped earlier).
// Once the NameNode is active and the DataNode has registered, it writes
// "hdfs://localhost:PORT" to READYFILE (through a temporary name, so the
// file appears whole) and runs until it is killed; a shutdown hook stops the
// cluster cleanly on SIGTERM.
//
// Permissions are checked (dfs.permissions.enabled), as on a production
// cluster: the user who starts this JVM is the superuser, any other
// HADOOP_USER_NAME of a client is an ordinary user.
//
// ADDR (an IPv4 address of this host) serves other hosts: MiniDFSCluster
// binds everything to 127.0.0.1 and its DataNode registers as 127.0.0.1, so
// a client elsewhere would be sent to its own loopback for every block.
// With ADDR the NameNode listens on all addresses, the DataNode listens on
// ADDR and registers with the host name ADDR, and READYFILE gets
// "hdfs://ADDR:PORT". The NameNode still records the DataNode's IP as
// 127.0.0.1 (the address it connected from: MiniDFSCluster points it at
// 127.0.0.1), so clients must connect to DataNodes by host name:
// dfs.client.use.datanode.hostname=true in their hdfs-site.xml.

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

public class MiniHDFS {
	public static void main(String[] args) throws Exception {
		if (args.length < 4 || args.length > 5 || !(args[2].equals("format") || args[2].equals("keep"))) {
			System.err.println("usage: MiniHDFS BASEDIR PORT format|keep READYFILE [ADDR]");
			System.exit(2);
		}
		String base = args[0];
		int port = Integer.parseInt(args[1]);
		boolean format = args[2].equals("format");
		File ready = new File(args[3]);
		String addr = args.length == 5 ? args[4] : null;

		Configuration conf = new HdfsConfiguration();
		conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base);
		conf.setBoolean("dfs.permissions.enabled", true);
		conf.setInt("dfs.replication", 1);
		// One DataNode: never wait for a second replica, nor try to replace a
		// DataNode in a write pipeline.
		conf.setInt("dfs.namenode.replication.min", 1);
		conf.set("dfs.client.block.write.replace-datanode-on-failure.enable", "false");
		// Small blocks, so that tests cross block boundaries with small files.
		conf.setLong("dfs.blocksize", 1 << 20);
		conf.setLong("dfs.namenode.fs-limits.min-block-size", 1 << 16);
		// Start fast: the DataNode reports at once, and safe mode ends as soon
		// as the blocks are reported (a restart).
		conf.setLong("dfs.heartbeat.interval", 1);
		conf.setInt("dfs.namenode.safemode.extension", 0);
		conf.setLong("dfs.blockreport.initialDelay", 0);
		// No web UI: nothing listens but the NameNode's RPC port and the
		// DataNode's (ephemeral) ports, all on loopback.
		conf.set("dfs.namenode.http-address", "127.0.0.1:0");
		conf.set("dfs.datanode.http.address", "127.0.0.1:0");
		if (addr != null) {
			// All addresses: the DataNode reaches the NameNode on 127.0.0.1,
			// clients on other hosts on ADDR.
			conf.set("dfs.namenode.rpc-bind-host", "0.0.0.0");
			// Kept because of checkDataNode*Config below, which stops
			// MiniDFSCluster from replacing them with 127.0.0.1.
			conf.set("dfs.datanode.address", addr + ":0");
			conf.set("dfs.datanode.ipc.address", addr + ":0");
			conf.set("dfs.datanode.hostname", addr);
		}

		double jvmUp = java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime() / 1e3;
		long t0 = System.nanoTime();
		MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf)
				.nameNodePort(port)
				.numDataNodes(1)
				.format(format)
				.manageNameDfsDirs(true)
				.manageDataDfsDirs(true)
				.checkDataNodeAddrConfig(addr != null)
				.checkDataNodeHostConfig(addr != null)
				.build();
		Runtime.getRuntime().addShutdownHook(new Thread(cluster::shutdown));
		cluster.waitActive();
		cluster.waitClusterUp();

		String url = "hdfs://" + (addr != null ? addr : "localhost") + ":" + cluster.getNameNodePort();
		File tmp = new File(ready.getPath() + ".tmp");
		Files.write(tmp.toPath(), (url + "\n").getBytes(StandardCharsets.UTF_8));
		Files.move(tmp.toPath(), ready.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
		System.err.printf("MiniHDFS: ready at %s (JVM started in %.1f s, cluster in %.1f s more)%n", url, jvmUp,
				(System.nanoTime() - t0) / 1e9);
		Thread.currentThread().join();
	}
}
