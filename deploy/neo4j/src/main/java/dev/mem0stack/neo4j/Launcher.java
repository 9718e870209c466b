package dev.mem0stack.neo4j;

import static org.neo4j.configuration.GraphDatabaseSettings.DEFAULT_DATABASE_NAME;
import static org.neo4j.configuration.GraphDatabaseSettings.SYSTEM_DATABASE_NAME;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

/**
 * Runs Neo4j Community embedded with its Bolt connector, for development and tests.
 *
 * <p>Usage: {@code java -jar neo4j-launcher.jar --data DIR [--host 127.0.0.1] [--port 7687]
 * [--password SECRET] [--pagecache-mb 64] [--stop-on-eof]}. Without a password
 * authentication is off (the connector listens on loopback only by default); with one,
 * the user {@code neo4j} gets it. When the database is ready to serve Bolt the launcher
 * prints one line, {@code mem0stack-neo4j ready bolt://HOST:PORT}, and then runs until
 * SIGTERM/SIGINT, or, with {@code --stop-on-eof}, until its standard input closes (so a
 * test harness that dies takes the database with it).
 */
public final class Launcher {

    private Launcher() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parse(argv);
        Path data = Path.of(require(args, "data")).toAbsolutePath();
        String host = args.getOrDefault("host", "127.0.0.1");
        int port = Integer.parseInt(args.getOrDefault("port", "7687"));
        String password = args.getOrDefault("password", System.getenv("NEO4J_PASSWORD"));
        long pagecacheMb = Long.parseLong(args.getOrDefault("pagecache-mb", "64"));
        boolean stopOnEof = args.containsKey("stop-on-eof");
        boolean auth = password != null && !password.isEmpty();

        Files.createDirectories(data);
        DatabaseManagementService service = new DatabaseManagementServiceBuilder(data)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(GraphDatabaseSettings.auth_enabled, auth)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pagecacheMb))
                // Development data: keep a day of transaction logs, not the default week.
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "1 days")
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));

        if (auth) {
            service.database(SYSTEM_DATABASE_NAME).executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        }
        // Bolt answers once the default database is available; a query proves it.
        service.database(DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
        System.out.println("mem0stack-neo4j ready bolt://" + host + ":" + port);
        System.out.flush();

        if (stopOnEof) {
            Thread watcher = new Thread(() -> {
                drain(System.in);
                System.exit(0); // runs the shutdown hook
            }, "stdin-watcher");
            watcher.setDaemon(true);
            watcher.start();
        }
        stopped.await();
    }

    private static void drain(InputStream in) {
        byte[] buffer = new byte[256];
        try {
            while (in.read(buffer) >= 0) {
                // Input is ignored; only its end matters.
            }
        } catch (IOException e) {
            // A broken pipe ends the input as well.
        }
    }

    private static Map<String, String> parse(String[] argv) {
        Map<String, String> args = new java.util.HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String arg = argv[i];
            if (!arg.startsWith("--")) {
                throw usage("unexpected argument " + arg);
            }
            String key = arg.substring(2);
            if (key.equals("stop-on-eof")) {
                args.put(key, "");
            } else if (i + 1 < argv.length) {
                args.put(key, argv[++i]);
            } else {
                throw usage(arg + " needs a value");
            }
        }
        return args;
    }

    private static String require(Map<String, String> args, String key) {
        String value = args.get(key);
        if (value == null) {
            throw usage("--" + key + " is required");
        }
        return value;
    }

    private static IllegalArgumentException usage(String problem) {
        return new IllegalArgumentException(problem + "; usage: --data DIR [--host H] [--port P]"
                + " [--password SECRET] [--pagecache-mb N] [--stop-on-eof]");
    }
}
