// One series of daily usage as a bar chart (Recharts), with the same figures as a table
// for screen readers and keyboard users.
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { UsageRow } from "./usage";

interface Series {
  key: keyof Omit<UsageRow, "day">;
  label: string;
  color: string;
}

interface Props {
  title: string;
  rows: UsageRow[];
  series: Series[];
}

export function UsageChart({ title, rows, series }: Props) {
  const id = `chart-${title.replace(/\W+/g, "-").toLowerCase()}`;
  return (
    <figure className="usage-chart" aria-labelledby={id}>
      <figcaption id={id}>
        <strong>{title}</strong>
      </figcaption>
      <div className="chart" aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={rows} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="day" tick={{ fontSize: 11 }} minTickGap={16} />
            <YAxis allowDecimals={false} tick={{ fontSize: 11 }} width={48} />
            <Tooltip />
            {series.length > 1 ? <Legend /> : null}
            {series.map((s) => (
              <Bar key={s.key} dataKey={s.key} name={s.label} fill={s.color} stackId="one" isAnimationActive={false} />
            ))}
          </BarChart>
        </ResponsiveContainer>
      </div>
      <details>
        <summary>{title} as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Day</th>
              {series.map((s) => (
                <th scope="col" key={s.key}>
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.day}>
                <th scope="row">{r.day}</th>
                {series.map((s) => (
                  <td key={s.key} className="number">
                    {r[s.key]}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
