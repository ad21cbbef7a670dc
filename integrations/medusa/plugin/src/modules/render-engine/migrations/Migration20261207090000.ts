import { Migration } from "@medusajs/framework/mikro-orm/migrations"

/** The variants a job's stills were linked to (colour jobs: that colour's variants). */
export class Migration20261207090000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table if exists "render_job_attachment" add column if not exists "variant_ids" jsonb null;`)
  }

  override async down(): Promise<void> {
    this.addSql(`alter table if exists "render_job_attachment" drop column if exists "variant_ids";`)
  }
}
