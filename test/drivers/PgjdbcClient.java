// pgjdbc (Debian's libpostgresql-jdbc-java, 42.x): what the application sees
// when leakguard ends a session idle in transaction (25P03), an idle session
// (57P05), or refuses a connection beyond a quota (53300), and how pgjdbc
// names its sessions (it logs in without ApplicationName and sends SET
// application_name right after, unless assumeMinServerVersion is given).
//
// Run with: java -cp /usr/share/java/postgresql.jar PgjdbcClient.java
// (single-file source mode); LG_HOST and LG_PORT name the server.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.postgresql.util.PSQLException;

public class PgjdbcClient {
    static final String BASE = "jdbc:postgresql://" + System.getenv("LG_HOST") + ":"
        + System.getenv("LG_PORT") + "/postgres";

    static void check(String what, boolean cond, Object got) {
        System.out.println((cond ? "ok - " : "not ok - ") + what
            + (cond || got == null ? "" : " (got " + got + ")"));
    }

    static Connection app(String name, String extra) throws SQLException {
        return DriverManager.getConnection(BASE + "?user=drv&ApplicationName=" + name + extra);
    }

    static boolean adminBool(String sql, String arg) throws SQLException {
        try (Connection c = DriverManager.getConnection(BASE + "?user=postgres&ApplicationName=lg-admin");
             PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 1; i <= ps.getParameterMetaData().getParameterCount(); i++)
                ps.setString(i, arg);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    // Poll, with a 30 s deadline, until leakguard has ended every session of
    // the application with a history row of this kind.
    static void waitTerminated(String app, String kind) throws Exception {
        long end = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < end) {
            if (adminBool("SELECT EXISTS (SELECT FROM leakguard.terminations WHERE application_name = ?"
                          + " AND kind = '" + kind + "' AND action = 'terminated')"
                          + " AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = ?)", app))
                return;
            Thread.sleep(100);
        }
        throw new RuntimeException(kind + " termination of " + app + ": not seen after 30 s");
    }

    static void endedWhileIdle(String app, String kind, String code, String text, boolean inTx)
        throws Exception {
        Connection c = app(app, "");
        c.setAutoCommit(!inTx);
        try (Statement s = c.createStatement()) {
            s.execute("SELECT 1");
        }
        waitTerminated(app, kind);
        try (Statement s = c.createStatement()) {
            s.execute("SELECT 1");
            check("pgjdbc " + code + ": the next statement fails", false, null);
        } catch (PSQLException e) {
            check("pgjdbc " + code + ": PSQLException with SQLState " + code,
                  code.equals(e.getSQLState()), e.getSQLState());
            check("pgjdbc " + code + ": message '" + text + "'",
                  e.getServerErrorMessage() != null && text.equals(e.getServerErrorMessage().getMessage()),
                  e.getMessage());
            check("pgjdbc " + code + ": leakguard detail in getServerErrorMessage().getDetail()",
                  e.getServerErrorMessage().getDetail() != null
                  && e.getServerErrorMessage().getDetail().startsWith(
                      "leakguard terminated this session of application \"" + app + "\""),
                  e.getServerErrorMessage().getDetail());
        }
        check("pgjdbc " + code + ": connection closed, isValid() false", c.isClosed() || !c.isValid(2), null);
        c.close();
    }

    public static void main(String[] args) throws Exception {
        endedWhileIdle("iit-pgjdbc", "idle in transaction", "25P03",
                       "terminating connection due to idle-in-transaction timeout", true);
        endedWhileIdle("idle-pgjdbc", "idle", "57P05",
                       "terminating connection due to idle-session timeout", false);

        // pgjdbc logs in without a name and sets it after: the session is
        // counted under "" at login, then renamed into the full quota, and
        // ended at its next statement, which pgjdbc still sends inside
        // getConnection().
        Connection held = app("quota-pgjdbc", "");
        try (Statement s = held.createStatement(); ResultSet rs = s.executeQuery(
                 "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")) {
            rs.next();
            check("pgjdbc: pg_stat_activity shows the ApplicationName once connected",
                  "quota-pgjdbc".equals(rs.getString(1)), rs.getString(1));
        }
        try {
            app("quota-pgjdbc", "").close();
            check("pgjdbc 53300: getConnection() is refused", false, null);
        } catch (PSQLException e) {
            String d = e.getServerErrorMessage() == null ? null : e.getServerErrorMessage().getDetail();
            check("pgjdbc 53300: getConnection() throws PSQLException 53300",
                  "53300".equals(e.getSQLState()), e.getSQLState());
            check("pgjdbc 53300: the detail says the session renamed itself from \"\" (no name at login)",
                  d != null && d.startsWith("This session changed its application_name from \"\";"), d);
        }
        check("pgjdbc: the quota refusal names the renamed session (history row of kind connections)",
              adminBool("SELECT EXISTS (SELECT FROM leakguard.terminations WHERE application_name = ?"
                        + " AND kind = 'connections' AND action = 'refused')", "quota-pgjdbc"), null);

        // With assumeMinServerVersion=9.0 the name is in the startup packet:
        // getConnection() itself is refused.
        try {
            app("quota-pgjdbc", "&assumeMinServerVersion=9.0").close();
            check("pgjdbc 53300 with assumeMinServerVersion: getConnection() is refused", false, null);
        } catch (PSQLException e) {
            String d = e.getServerErrorMessage() == null ? null : e.getServerErrorMessage().getDetail();
            check("pgjdbc 53300 with assumeMinServerVersion: getConnection() throws 53300 with the detail",
                  "53300".equals(e.getSQLState()) && d != null
                  && d.startsWith("leakguard allows application \"quota-pgjdbc\""), e.getSQLState() + " " + d);
        }
        held.close();
    }
}
